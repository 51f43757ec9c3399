"""Host-name matching decided as Mozilla's mozpkix decides (NSS ``pkixnames``).

The tables are facts reproduced from NSS's ``gtests/mozpkix_gtest/pkixnames_tests.cpp``
(``DNSID_MATCH_PARAMS`` and ``DNSNAMES_VALIDITY``): which presented name (in a
certificate) matches which reference name (the host checked), and which strings are
valid as either. Two deliberate differences are tested apart, at the end: certdesk
turns a U-label host into its A-label before checking it (NSS only takes A-labels),
and it refuses a wildcard over a public suffix when it knows the Public Suffix List.
"""

from __future__ import annotations

import pytest

from certdesk.errors import InvalidArgument
from certdesk.pki import covers, parse_host, pattern_matches
from certdesk.pki.names import presented_name, reference_name

MATCH, MISMATCH, BAD = "match", "mismatch", "bad"

# (presented name, reference name, outcome); BAD: NSS refuses one of the two names.
DNSID_MATCH = [
    ("", "a", BAD),
    ("a", "a", MATCH),
    ("b", "a", MISMATCH),
    ("*.b.a", "c.b.a", MATCH),
    ("*.b.a", "b.a", MISMATCH),
    ("*.b.a", "b.a.", MISMATCH),
    ("a_b", "a_b", MATCH),
    ("*.example.com", "uses_underscore.example.com", MATCH),
    ("*.uses_underscore.example.com", "a.uses_underscore.example.com", MATCH),
    ("_.example.com", "_.example.com", MATCH),
    ("*.example.com", "_.example.com", MATCH),
    ("_", "_", MATCH),
    ("___", "___", MATCH),
    ("example_", "example_", MATCH),
    ("_example", "_example", MATCH),
    ("*._._", "x._._", MATCH),
    ("*.example.com", "-.example.com", MATCH),
    ("*.example.com", "-hyphenstart.example.com", MATCH),
    ("*.example.com", "hyphenend-.example.com", MATCH),
    ("-.example.com", "-.example.com", BAD),
    ("-hyphenstart.example.com", "-hyphenstart.example.com", BAD),
    ("hyphenend-.example.com", "hyphenend-.example.com", BAD),
    ("_1", "_1", MATCH),
    ("example._1", "example._1", MATCH),
    ("example.1_", "example.1_", MATCH),
    ("d.c.b.a", "d.c.b.a", MATCH),
    ("d.*.b.a", "d.c.b.a", BAD),
    ("d.c*.b.a", "d.c.b.a", BAD),
    ("d.c*.b.a", "d.cc.b.a", BAD),
    ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", MATCH),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", MATCH),
    ("aBc", "Abc", MATCH),
    ("a1", "a1", MATCH),
    ("example", "example", MATCH),
    ("example.", "example.", BAD),
    ("example", "example.", MATCH),
    ("example.", "example", BAD),
    ("example.com", "example.com", MATCH),
    ("example.com.", "example.com.", BAD),
    ("example.com", "example.com.", MATCH),
    ("example.com.", "example.com", BAD),
    ("example.com..", "example.com.", BAD),
    ("example.com..", "example.com", BAD),
    ("example.com...", "example.com.", BAD),
    ("x*.b.a", "xa.b.a", BAD),
    ("x*.b.a", "xna.b.a", BAD),
    ("x*.b.a", "xn-a.b.a", BAD),
    ("x*.b.a", "xn--a.b.a", BAD),
    ("xn*.b.a", "xn--a.b.a", BAD),
    ("xn-*.b.a", "xn--a.b.a", BAD),
    ("xn--*.b.a", "xn--a.b.a", BAD),
    ("xn---*.b.a", "xn--a.b.a", BAD),
    ("c*.b.a", "c.b.a", BAD),
    ("foo.com", "foo.com", MATCH),
    ("f", "f", MATCH),
    ("i", "h", MISMATCH),
    ("*.foo.com", "bar.foo.com", MATCH),
    ("*.test.fr", "www.test.fr", MATCH),
    ("*.test.FR", "wwW.tESt.fr", MATCH),
    (".uk", "f.uk", BAD),
    ("?.bar.foo.com", "w.bar.foo.com", BAD),
    ("(www|ftp).foo.com", "www.foo.com", BAD),
    ("www.foo.com\0", "www.foo.com", BAD),
    ("www.foo.com\0*.foo.com", "www.foo.com", BAD),
    ("ww.house.example", "www.house.example", MISMATCH),
    ("www.test.org", "test.org", MISMATCH),
    ("*.test.org", "test.org", MISMATCH),
    ("*.org", "test.org", BAD),
    ("w*.bar.foo.com", "w.bar.foo.com", BAD),
    ("ww*ww.bar.foo.com", "www.bar.foo.com", BAD),
    ("ww*ww.bar.foo.com", "wwww.bar.foo.com", BAD),
    ("w*w.bar.foo.com", "wwww.bar.foo.com", BAD),
    ("w*w.bar.foo.c0m", "wwww.bar.foo.com", BAD),
    ("wa*.bar.foo.com", "WALLY.bar.foo.com", BAD),
    ("*Ly.bar.foo.com", "wally.bar.foo.com", BAD),
    ("*.test.de", "www.test.co.jp", MISMATCH),
    ("*.jp", "www.test.co.jp", BAD),
    ("www.test.co.uk", "www.test.co.jp", MISMATCH),
    ("www.*.co.jp", "www.test.co.jp", BAD),
    ("www.bar.foo.com", "www.bar.foo.com", MATCH),
    ("*.foo.com", "www.bar.foo.com", MISMATCH),
    ("*.*.foo.com", "www.bar.foo.com", BAD),
    ("www.bath.org", "www.bath.org", MATCH),
    ("xn--poema-9qae5a.com.br", "xn--poema-9qae5a.com.br", MATCH),
    ("*.xn--poema-9qae5a.com.br", "www.xn--poema-9qae5a.com.br", MATCH),
    ("*.xn--poema-9qae5a.com.br", "xn--poema-9qae5a.com.br", MISMATCH),
    ("xn--poema-*.com.br", "xn--poema-9qae5a.com.br", BAD),
    ("xn--*-9qae5a.com.br", "xn--poema-9qae5a.com.br", BAD),
    ("*--poema-9qae5a.com.br", "xn--poema-9qae5a.com.br", BAD),
    ("*.example.com", "foo.example.com", MATCH),
    ("*.example.com", "bar.foo.example.com", MISMATCH),
    ("*.example.com", "example.com", MISMATCH),
    ("baz*.example.net", "baz1.example.net", BAD),
    ("*baz.example.net", "foobaz.example.net", BAD),
    ("b*z.example.net", "buzz.example.net", BAD),
    ("*.test.example", "www.test.example", MATCH),
    ("*.example.co.uk", "test.example.co.uk", MATCH),
    ("*.exmaple", "test.example", BAD),
    ("*.co.uk", "example.co.uk", MATCH),  # without the Public Suffix List, as NSS
    ("*.com", "foo.com", BAD),
    ("*.us", "foo.us", BAD),
    ("*", "foo", BAD),
    ("*.xn--poema-9qae5a.com.br", "www.xn--poema-9qae5a.com.br", MATCH),
    ("*.example.xn--mgbaam7a8h", "test.example.xn--mgbaam7a8h", MATCH),
    ("*.com.br", "xn--poema-9qae5a.com.br", MATCH),
    ("*.xn--mgbaam7a8h", "example.xn--mgbaam7a8h", BAD),
    ("*.appspot.com", "www.appspot.com", MATCH),
    ("*.s3.amazonaws.com", "foo.s3.amazonaws.com", MATCH),
    ("*.*.com", "foo.example.com", BAD),
    ("*.bar.*.com", "foo.bar.example.com", BAD),
    ("foo.com.", "foo.com", BAD),
    ("foo.com", "foo.com.", MATCH),
    ("foo.com.", "foo.com.", BAD),
    ("f.", "f", BAD),
    ("f", "f.", MATCH),
    ("f.", "f.", BAD),
    ("*.bar.foo.com.", "www-3.bar.foo.com", BAD),
    ("*.bar.foo.com", "www-3.bar.foo.com.", MATCH),
    ("*.bar.foo.com.", "www-3.bar.foo.com.", BAD),
    ("*.com.", "example.com", BAD),
    ("*.com", "example.com.", BAD),
    ("*.com.", "example.com.", BAD),
    ("*.", "foo.", BAD),
    ("*.", "foo", BAD),
    ("*.co.uk", "foo.co.uk", MATCH),
    ("*.co.uk", "foo.co.uk.", MATCH),
    ("*.co.uk.", "foo.co.uk", BAD),
    ("*.co.uk.", "foo.co.uk.", BAD),
    ("*.example.com", "localhost", MISMATCH),
    ("*.example.com", "localhost.", MISMATCH),
]


@pytest.mark.parametrize(("presented", "reference", "outcome"), DNSID_MATCH)
def test_nss_match_table(presented: str, reference: str, outcome: str) -> None:
    host = reference_name(reference)  # every reference in the table is a valid one
    assert pattern_matches(presented, host) is (outcome == MATCH)
    # ... and so through parse_host, the way --host reads it, and covers.
    assert covers([presented], [], None, True, parse_host(reference)) is (outcome == MATCH)
    if outcome == BAD and presented_name(presented) is None:
        # A presented name NSS refuses matches nothing, not even the CN fallback.
        assert not covers([], [], presented, False, parse_host(reference))


LONGEST = ".".join(["1234567890" * 5] * 4) + "." + "1234567890" * 4 + "12345678a"
TOO_LONG = ".".join(["1234567890" * 5] * 4) + "." + "1234567890" * 4 + "123456789a"

# (name, valid as a reference name, valid as a presented name)
DNSNAMES_VALIDITY = [
    ("a", True, True),
    ("a.b", True, True),
    ("a.b.c", True, True),
    ("a.b.c.d", True, True),
    ("", False, False),
    (".", False, False),
    (".a", False, False),
    (".a.b", False, False),
    ("..a", False, False),
    ("a..b", False, False),
    ("a...b", False, False),
    ("a..b.c", False, False),
    ("a.b..c", False, False),
    (".a.b.c.", False, False),
    ("a.", True, False),
    ("a.b.", True, False),
    ("a.b.c.", True, False),
    ("a..", False, False),
    ("a.b..", False, False),
    ("a.b.c..", False, False),
    ("a...", False, False),
    ("xn--", True, False),
    ("xn--.", True, False),
    ("xn--.a", True, False),
    ("a.xn--", True, False),
    ("a.xn--.", True, False),
    ("a.xn--.b", True, False),
    ("a.xn--\0.b", False, False),
    ("a.xn--a.b", True, True),
    ("xn--a", True, True),
    ("a.xn--a", True, True),
    ("a.xn--a.a", True, True),
    ("xn--jea.com", True, True),
    ("xn--\u0115.com", False, False),
    ("xn--google.com", True, True),
    ("xn--citibank.com", True, True),
    ("xn--cnn.com", True, True),
    ("a.xn--cnn", True, True),
    ("a.xn--cnn.com", True, True),
    ("1.2.3.4", False, False),
    ("1::2", False, False),
    (" ", False, False),
    (" a", False, False),
    ("a ", False, False),
    ("a b", False, False),
    ("a.b 1", False, False),
    ("a\t", False, False),
    ("\0", False, False),
    ("a\0", False, False),
    ("example.org\0.example.com", False, False),
    ("\0a", False, False),
    ("xn--\0", False, False),
    ("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z", True, True),
    ("A.B.C.D.E.F.G.H.I.J.K.L.M.N.O.P.Q.R.S.T.U.V.W.X.Y.Z", True, True),
    ("0.1.2.3.4.5.6.7.8.9.a", True, True),
    ("a-b", True, True),
    ("a_b", True, True),
    ("_", True, True),
    ("a_", True, True),
    ("_a", True, True),
    ("_1", True, True),
    ("1_", True, True),
    ("___", True, True),
    ("!", False, False),
    ("!a", False, False),
    ("a!", False, False),
    ("a!b", False, False),
    ("a.!", False, False),
    ("a.a!", False, False),
    ("a.!a", False, False),
    ("a.a!a", False, False),
    ("a.!a.a", False, False),
    ("a.a!.a", False, False),
    ("a.a!a.a", False, False),
    ("a@", False, False),
    ("a#", False, False),
    ("a$", False, False),
    ("a%", False, False),
    ("a^", False, False),
    ("a&", False, False),
    ("a*", False, False),
    ("a(", False, False),
    ("a)", False, False),
    ("1", False, False),
    ("a.1", False, False),
    ("1.a", True, True),
    ("1.2.a", True, True),
    ("1.2.3.a", True, True),
    ("1a", True, True),
    ("1.1a", True, True),
    ("1-1", True, True),
    ("a.1-1", True, True),
    ("a.1-a", True, True),
    ("-", True, False),
    ("-1", True, False),
    ("1-", True, False),
    ("1-.a", True, False),
    ("a-", True, False),
    ("a-.a", True, False),
    ("a.1-.a", True, False),
    ("a.a-.a", True, False),
    ("1-2", True, True),
    ("a.a-1", True, True),
    ("a--1", True, True),
    ("1---a", True, True),
    ("a-----------------b", True, True),
    ("*.a", False, False),
    ("a*.", False, False),
    ("a*.a", False, False),
    ("a*.a.", False, False),
    ("*.a.b", False, True),
    ("*.a.b.", False, False),
    ("a*.b.c", False, False),
    ("*.a.b.c", False, True),
    ("a*.b.c.d", False, False),
    ("a**.b.c", False, False),
    ("a*b*.c.d", False, False),
    ("a*.b*.c", False, False),
    ("a.*", False, False),
    ("a.*.b", False, False),
    ("a.b.*", False, False),
    ("a.b*.c", False, False),
    ("*.b*.c", False, False),
    (".*.a.b", False, False),
    (".a*.b.c", False, False),
    ("*a.b.c", False, False),
    ("a*b.c.d", False, False),
    ("x*.a.b", False, False),
    ("xn*.a.b", False, False),
    ("xn-*.a.b", False, False),
    ("xn--*.a.b", False, False),
    ("xn--w*.a.b", False, False),
    ("(PRIVATE).foo", False, False),
    ("1234567890" * 6 + "abc", True, True),  # a label of 63 characters
    ("1234567890" * 6 + "abcd", False, False),  # ... and of 64
    (LONGEST, True, True),  # 253 characters
    (TOO_LONG, False, False),  # 254
    ("I", True, True),
    ("i", True, True),
    ("xn--i-9bb", True, True),
    ("xn--cfa", True, True),
    ("xn--\u0130", False, False),
    ("xn--\u0131", False, False),
]


@pytest.mark.parametrize(("name", "reference", "presented"), DNSNAMES_VALIDITY)
def test_nss_validity_table(name: str, reference: bool, presented: bool) -> None:
    assert (presented_name(name) is not None) is presented
    if reference:
        assert reference_name(name) == name.lower().removesuffix(".")
    else:
        with pytest.raises(InvalidArgument):
            reference_name(name)


def test_the_tables_are_the_lengths_they_claim() -> None:
    assert len(LONGEST) == 253
    assert len(TOO_LONG) == 254


# --- where certdesk deliberately differs --------------------------------------------


@pytest.mark.parametrize(
    ("name", "alabel"),
    [("\u0115.com", "xn--jea.com"), ("\u0130", "xn--i-9bb"), ("\u0131", "xn--cfa")],
)
def test_a_u_label_host_is_checked_as_its_a_label(name: str, alabel: str) -> None:
    # NSS takes only A-labels; certdesk converts what a user types, as a browser's
    # address bar does, and then applies the same rules.
    assert reference_name(name) == alabel
    assert presented_name(name) is None  # in a certificate, a U-label is refused


def test_public_suffix_wildcards_are_refused_when_the_list_is_known() -> None:
    def is_ps(name: str) -> bool:
        return name in {"co.uk", "com.br", "appspot.com"}

    assert pattern_matches("*.co.uk", "example.co.uk")  # NSS, without the list
    assert not pattern_matches("*.co.uk", "example.co.uk", is_ps)
    assert not pattern_matches("*.com.br", "xn--poema-9qae5a.com.br", is_ps)
    assert pattern_matches("*.example.co.uk", "test.example.co.uk", is_ps)


def test_internal_names_with_underscores_are_accepted_by_parse_host() -> None:
    assert parse_host("_dmarc.Example.com.").name == "_dmarc.example.com"
    assert parse_host("https://api_v2.internal.test:8443/x").name == "api_v2.internal.test"
