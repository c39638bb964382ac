"""Profiles: training, the TOML file round trip, and the statistical layer's verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from probescan.classify.features import FEATURE_NAMES, Behaviour
from probescan.classify.layers import LAYERS, parse_classifiers
from probescan.classify.profiles import (
    OTHER,
    Model,
    ProfileError,
    Sample,
    dumps,
    load,
    train,
)
from probescan.classify.statistical import StatisticalLayer
from tests.classify.test_features import beh

TLS = [517, -1448, -1448, -900, 126, -51, 300, -2000]
SSH = [-32, 23, 991, -1021, 48, -536, 16, 44, -44, 68, -52]
DNS = [40, -120]


def samples() -> list[Sample]:
    out = []
    for i in range(4):
        out.append(Sample("tls", f"cap{i}", beh([n + (i if n > 0 else -i) for n in TLS])))
        out.append(Sample("ssh", f"cap{i}", beh([n + i if n > 0 else n - i for n in SSH])))
        out.append(Sample("domain", f"cap{i}", beh([DNS[0] + i, DNS[1] - 3 * i],
                                                    transport="udp")))
    return out


def test_training_groups_flows_by_protocol_and_transport() -> None:
    ps = train(samples(), about=("test",))
    assert [(p.service, p.transport, p.flows, p.captures) for p in ps.profiles] == [
        ("domain", "udp", 4, 4), ("ssh", "tcp", 4, 4), ("tls", "tcp", 4, 4)]
    tls = ps.find("tls", "tcp")
    assert tls is not None and tls.examples[0] == tuple(TLS) and len(tls.examples) == 3
    assert sum(tls.c2s) == pytest.approx(1000, abs=2) and len(tls.c2s) == 8
    assert ps.forests["tcp"].classes == ("ssh", "tls")
    assert ps.forests["udp"].classes == ("domain",)


def test_min_captures_and_per_capture_bound_what_is_learnt() -> None:
    many = [Sample("tls", "one", beh(TLS)) for _ in range(30)]
    assert train(many, min_captures=2).profiles == ()
    assert train(many, per_capture=5).profiles[0].flows == 5
    # a flow of one payload packet teaches nothing (it could never be classified)
    assert train([Sample("x", "c", beh([100]))]).profiles == ()


def test_protocols_of_too_few_captures_teach_the_forest_other() -> None:
    rare = [Sample("rare", "cap0", beh([90, -90, 90, -90]))]
    ps = train([*samples(), *rare], min_captures=2)
    assert ps.find("rare", "tcp") is None
    assert ps.forests["tcp"].classes == (OTHER, "ssh", "tls")
    got = StatisticalLayer(ps).classify(beh([90, -90, 90, -90]))
    assert got is not None and not got.named and got.other_score > got.score
    assert "too few captures" in got.why


def test_the_file_round_trips(tmp_path: Path) -> None:
    ps = train(samples(), Model(0.7, 0.2, 3), about=("made by a test",))
    path = tmp_path / "p.toml"
    path.write_text(dumps(ps))
    back = load([path])
    assert back.model == Model(0.7, 0.2, 3)
    assert back.profiles == ps.profiles
    assert back.forests == ps.forests
    assert path.read_text().startswith("# made by a test\n")


GOOD_MODEL = "[model]\nfeatures = 2\nmin_score = 0.5\nmax_outside = 0.5\nmin_packets = 2\n"


@pytest.mark.parametrize(("text", "why"), [
    ("not toml [", "cannot read profiles"),
    ("[model]\nfeatures = 99\nmin_score = 1\nmin_packets = 2\n", "version 99"),
    ("[model]\nfeatures = 2\n", "not a profiles file"),
    (GOOD_MODEL + "[[profile]]\nservice = 'x'\ntransport = 'sctp'\nflows = 1\ncaptures = 1\n"
     "c2s = []\ns2c = []\n", "transport 'sctp'"),
    (GOOD_MODEL + f"[forest.tcp]\nclasses = ['x']\nfeatures = {len(FEATURE_NAMES)}\n"
     "trees = ['0<1 =0']\n", "does not end in leaves"),
    (GOOD_MODEL + "[forest.tcp]\nclasses = ['x']\nfeatures = 3\ntrees = ['=0']\n",
     "3 features"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=why) as e:
        load([path])
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_the_forest_names_a_flow_like_its_own() -> None:
    layer = StatisticalLayer(train(samples()))
    got = layer.classify(beh([n + 2 if n > 0 else n - 1 for n in TLS]))
    assert got is not None and got.named and got.profile.service == "tls"
    assert 1 <= got.confidence <= 5 and got.score >= layer.model.min_score
    dns = layer.classify(beh([41, -125], transport="udp"))
    assert dns is not None and dns.named and dns.profile.service == "domain"


def test_it_names_nothing_below_the_score_or_with_too_few_packets() -> None:
    ps = train(samples())
    never = StatisticalLayer(train(samples(), Model(min_score=1.0)))
    # halfway between two protocols: the trees disagree
    between = never.classify(beh(TLS[:4] + SSH[4:]))
    assert between is not None and between.score < 1.0
    assert not between.named and "must" in between.why and between.confidence == 0
    assert StatisticalLayer(ps).classify(beh([517])) is None  # one packet: not classified
    assert StatisticalLayer(ps).classify(beh([])) is None  # no payload: nothing to read
    assert StatisticalLayer(train(samples()[:2])).classify(beh([40, -120], transport="udp")) is (
        None)  # no forest for udp
    # the udp forest knows only DNS and votes for it whatever comes; the ranges say no
    alien = StatisticalLayer(ps).classify(beh(TLS, transport="udp"))
    assert alien is not None and alien.score == 1.0 and not alien.named
    assert "unlike the domain flows learnt" in alien.why and "c2s_max" in alien.outside
    assert alien.beyond > layer_model().max_outside


def test_flows_of_one_endpoint_pool_their_votes() -> None:
    """A flow the trees split on is decided with the earlier flows of its server endpoint:
    alone it is not named; after flows the payload (or the layer) named there, it is."""
    between = beh(TLS[:4] + SSH[4:])
    # (ranges wide open: this test is about the votes)
    layer = StatisticalLayer(train(samples(), Model(min_score=0.9, max_outside=100.0)))
    alone = layer.classify(between)
    assert alone is not None and not alone.named and alone.pooled == 0
    server = ("tcp", "10.0.0.2", 8443)
    for _ in range(9):
        layer.remember(server, "tls")  # named tls by its payload
    pooled = layer.classify(between, server)
    assert pooled is not None and pooled.named and pooled.profile.service == "tls"
    assert pooled.pooled == 9 and pooled.score > alone.score
    # another endpoint has no history: the same flow is judged alone there
    other = layer.classify(between, ("tcp", "10.0.0.3", 8443))
    assert other is not None and not other.named and other.pooled == 0
    # the layer's own verdicts pool too: the next flow sees all ten earlier ones
    again = layer.classify(between, server)
    assert again is not None and again.pooled == 10
    layer.remember(server, "gopher")  # a name the forest has no class for: no vote
    assert layer.classify(between, server).pooled == 11  # type: ignore[union-attr]


def test_pooling_forgets_the_least_recent_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    import probescan.classify.statistical as statistical
    monkeypatch.setattr(statistical, "ENDPOINTS", 2)
    layer = StatisticalLayer(train(samples()))
    flow = beh(TLS)
    for port in (1, 2, 1, 3):  # endpoint 2 is the least recently seen when 3 arrives
        layer.classify(flow, ("tcp", "10.0.0.2", port))
    assert [layer.classify(flow, ("tcp", "10.0.0.2", port)).pooled  # type: ignore[union-attr]
            for port in (1, 2)] == [2, 0]


def test_ports_are_never_read() -> None:
    """Two flows alike but for their ports have the same behaviour (it has no port)."""
    from probescan.classify.features import behaviour_of
    from probescan.protocols.packet import ACK, PSH, SYN, Packet
    from probescan.watch.flows import FlowTable

    def flow(port: int) -> Behaviour:
        t = FlowTable()
        c, s = ("10.0.0.1", 40000), ("10.0.0.2", port)
        t.add(Packet(0.0, c[0], s[0], 6, c[1], s[1], SYN, 0, b""))
        t.add(Packet(0.1, s[0], c[0], 6, s[1], c[1], SYN | ACK, 0, b""))
        t.add(Packet(0.2, c[0], s[0], 6, c[1], s[1], PSH | ACK, 1, b"x" * 517))
        got, _ = t.add(Packet(0.3, s[0], c[0], 6, s[1], c[1], PSH | ACK, 1, b"y" * 1448))
        assert got is not None
        return behaviour_of(got)

    assert flow(443) == flow(22) == flow(8443)
    assert not [f for f in Behaviour.__dataclass_fields__ if "port" in f.replace("transport", "")]


def layer_model() -> Model:
    return Model()


def test_classifiers_option() -> None:
    assert parse_classifiers("statistics, rules") == {"statistics", "rules"}
    assert parse_classifiers(",".join(LAYERS)) == set(LAYERS)
    with pytest.raises(ValueError, match="unknown layer 'ports'"):
        parse_classifiers("rules,ports")
    with pytest.raises(ValueError, match="at least one"):
        parse_classifiers(" , ")
