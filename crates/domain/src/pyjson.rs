//! Python's `json` module, as far as attendee's callback signature needs it.
//!
//! attendee signs its token callback over
//! `json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`
//! (attendee-labs/attendee `bots/webhook_utils.py::sign_payload`), not over
//! the body it sends (`requests.post(url, json=payload)`: default
//! separators, keys in insertion order, non-ASCII as `\uXXXX`). To check the
//! signature, the body is parsed as `json.loads` would and re-serialized as
//! that `json.dumps` call would: [`canonical`].
//!
//! What Python does, and this module copies:
//! - keys sorted by code point at every level (Rust's `String` order is
//!   UTF-8 byte order, which is the same); a repeated key keeps its last
//!   value (`json.loads` builds a dict);
//! - no whitespace; non-ASCII written as UTF-8; `"` and `\` escaped, `\b`
//!   `\f` `\n` `\r` `\t` by name, other characters below U+0020 as
//!   `\u00xx` (lowercase hex); U+007F and everything above left alone;
//! - integers kept exactly (Python's ints are unbounded; `-0` becomes `0`);
//! - floats (any number with a fraction or exponent) become the nearest
//!   `f64` and are written as `repr(float)`: the shortest digits that round
//!   trip, in positional form with at least one fractional digit (`100.0`)
//!   when the decimal exponent is in -4..16, else `d.ddde±XX` (`1e+16`,
//!   `1e-05`); overflow is `Infinity`;
//! - `NaN`, `Infinity` and `-Infinity` literals are accepted, as
//!   `json.loads` accepts them.
//!
//! What Python would do differently, and why it does not matter here:
//! a lone surrogate escape (`"\ud800"`) parses in Python but then cannot be
//! encoded to UTF-8 for the HMAC, so attendee could never sign such a
//! payload; it is rejected. Integers of more than 4300 digits are refused
//! by Python 3.11+ too. Nesting deeper than [`MAX_DEPTH`] is refused (no
//! real callback comes close; it bounds the recursion).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use thiserror::Error;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 128;

/// Most digits of an integer accepted: Python's default
/// `sys.set_int_max_str_digits` limit.
pub const MAX_INT_DIGITS: usize = 4300;

/// A JSON value as Python's `json.loads` holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    Null,
    /// `True` / `False`.
    Bool(bool),
    /// An `int`, as its canonical decimal text (`-12`, `0`).
    Int(String),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    Array(Vec<PyValue>),
    /// A `dict` (sorted, as `sort_keys=True` writes it).
    Object(BTreeMap<String, PyValue>),
}

impl PyValue {
    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `json.dumps(self, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`.
    pub fn to_canonical(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self);
        out
    }
}

/// Why a body is not JSON that Python's `json.loads` would accept (and
/// attendee could have signed).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PyJsonError {
    /// Not UTF-8.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// A syntax error at a byte offset.
    #[error("invalid JSON at byte {at}: {what}")]
    Syntax {
        /// Byte offset of the problem.
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Parses `bytes` as `json.loads` would.
pub fn parse(bytes: &[u8]) -> Result<PyValue, PyJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| PyJsonError::NotUtf8)?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("extra data after the value"));
    }
    Ok(v)
}

/// The text attendee signs for a payload whose JSON body is `bytes`.
pub fn canonical(bytes: &[u8]) -> Result<String, PyJsonError> {
    Ok(parse(bytes)?.to_canonical())
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> PyJsonError {
        PyJsonError::Syntax { at: self.i, what }
    }

    /// Python's JSON whitespace: space, tab, newline, carriage return.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, PyJsonError> {
        match self.s.get(self.i) {
            None => Err(self.err("expected a value")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(PyValue::Str),
            Some(b'-' | b'0'..=b'9') => {
                if self.eat("-Infinity") {
                    return Ok(PyValue::Float(f64::NEG_INFINITY));
                }
                self.number()
            }
            Some(_) => {
                if self.eat("null") {
                    Ok(PyValue::Null)
                } else if self.eat("true") {
                    Ok(PyValue::Bool(true))
                } else if self.eat("false") {
                    Ok(PyValue::Bool(false))
                } else if self.eat("NaN") {
                    Ok(PyValue::Float(f64::NAN))
                } else if self.eat("Infinity") {
                    Ok(PyValue::Float(f64::INFINITY))
                } else {
                    Err(self.err("expected a value"))
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<PyValue, PyJsonError> {
        if depth > MAX_DEPTH {
            return Err(PyJsonError::TooDeep);
        }
        self.i += 1; // '{'
        let mut map = BTreeMap::new();
        self.ws();
        if self.eat("}") {
            return Ok(PyValue::Object(map));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a property name in double quotes"));
            }
            let key = self.string()?;
            self.ws();
            if !self.eat(":") {
                return Err(self.err("expected ':'"));
            }
            self.ws();
            let v = self.value(depth)?;
            map.insert(key, v);
            self.ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("}") {
                return Ok(PyValue::Object(map));
            }
            return Err(self.err("expected ',' or '}'"));
        }
    }

    fn array(&mut self, depth: usize) -> Result<PyValue, PyJsonError> {
        if depth > MAX_DEPTH {
            return Err(PyJsonError::TooDeep);
        }
        self.i += 1; // '['
        let mut items = Vec::new();
        self.ws();
        if self.eat("]") {
            return Ok(PyValue::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(PyValue::Array(items));
            }
            return Err(self.err("expected ',' or ']'"));
        }
    }

    fn hex4(&mut self) -> Result<u32, PyJsonError> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let mut n = 0u32;
        for &d in digits {
            let v = char::from(d)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            n = n * 16 + v;
        }
        self.i += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, PyJsonError> {
        self.i += 1; // '"'
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // Boundaries are ASCII bytes, so the slice is on char bounds.
            out.push_str(&self.text[start..self.i]);
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by a low one.
                                if !self.eat("\\u") {
                                    return Err(self.err("lone surrogate in \\u escape"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("lone surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(c)
                                .ok_or_else(|| self.err("lone surrogate in \\u escape"))?;
                            out.push(c);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    /// Python's `-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`.
    fn number(&mut self) -> Result<PyValue, PyJsonError> {
        let start = self.i;
        let negative = self.eat("-");
        let int_start = self.i;
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        let int_end = self.i;
        let mut is_float = false;
        // A fraction or exponent without digits ends the number before it
        // (Python's regex backtracks), leaving "extra data".
        if self.s.get(self.i) == Some(&b'.') && matches!(self.s.get(self.i + 1), Some(b'0'..=b'9'))
        {
            self.i += 1;
            self.digits();
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            let save = self.i;
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                self.i = save;
            } else {
                is_float = true;
            }
        }
        if is_float {
            let lexeme = &self.text[start..self.i];
            let f: f64 = lexeme.parse().map_err(|_| PyJsonError::Syntax {
                at: start,
                what: "invalid number",
            })?;
            return Ok(PyValue::Float(f));
        }
        let digits = &self.text[int_start..int_end];
        if digits.len() > MAX_INT_DIGITS {
            return Err(PyJsonError::Syntax {
                at: start,
                what: "integer longer than Python's 4300-digit limit",
            });
        }
        let text = if negative && digits != "0" {
            format!("-{digits}")
        } else {
            digits.to_owned()
        };
        Ok(PyValue::Int(text))
    }
}

fn write_value(out: &mut String, v: &PyValue) {
    match v {
        PyValue::Null => out.push_str("null"),
        PyValue::Bool(true) => out.push_str("true"),
        PyValue::Bool(false) => out.push_str("false"),
        PyValue::Int(digits) => out.push_str(digits),
        PyValue::Float(f) => out.push_str(&float_repr(*f)),
        PyValue::Str(s) => write_str(out, s),
        PyValue::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        PyValue::Object(map) => {
            out.push('{');
            for (n, (k, item)) in map.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A string as `json.dumps(..., ensure_ascii=False)` writes it
/// (CPython `_json.c`, `escape_unicode` off: `py_encode_basestring`).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.dumps(x)` of a float: `repr(x)` (CPython `float_repr`, mode `'r'`
/// with `Py_DTSF_ADD_DOT_0`), and `Infinity`/`-Infinity`/`NaN` for the
/// non-finite values.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, as CPython's
    // dtoa mode 0 does: "d[.ddd]e[-]N".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // CPython's `decpt`: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{exp_sign}{:02}", exp.unsigned_abs())
    } else if decpt <= 0 {
        let zeros = "0".repeat(decpt.unsigned_abs() as usize);
        format!("{sign}0.{zeros}{digits}")
    } else if decpt >= n {
        let zeros = "0".repeat((decpt - n) as usize);
        format!("{sign}{digits}{zeros}.0")
    } else {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn canon(s: &str) -> String {
        canonical(s.as_bytes()).unwrap()
    }

    /// `json.dumps(json.loads(INPUT), sort_keys=True, ensure_ascii=False,
    /// separators=(",", ":"))` as CPython 3.11 prints it.
    const PYTHON_VECTORS: &[(&str, &str)] = &[
        ("{}", "{}"),
        ("[]", "[]"),
        ("null", "null"),
        ("true", "true"),
        (" false ", "false"),
        ("\"\"", "\"\""),
        (
            r#"{"bot_id": "bot_abc", "bot_metadata": {"zoom_user": "jill@example.com", "a": 1}, "callback_type": "zoom_tokens", "meeting_url": "https://us02web.zoom.us/j/85012345678?pwd=abc"}"#,
            r#"{"bot_id":"bot_abc","bot_metadata":{"a":1,"zoom_user":"jill@example.com"},"callback_type":"zoom_tokens","meeting_url":"https://us02web.zoom.us/j/85012345678?pwd=abc"}"#,
        ),
        (
            r#"{"b": {"z": [3, {"y": 1, "x": 2}], "a": null}, "a": []}"#,
            r#"{"a":[],"b":{"a":null,"z":[3,{"x":2,"y":1}]}}"#,
        ),
        // Non-ASCII: escaped in the body (ensure_ascii=True), raw when signed.
        (
            r#"{"name": "J\u00fcrgen M\u00fcller", "city": "\u6771\u4eac", "e": "\ud83d\ude00"}"#,
            "{\"city\":\"東京\",\"e\":\"😀\",\"name\":\"Jürgen Müller\"}",
        ),
        ("\"Jürgen\"", "\"Jürgen\""),
        // Control characters, quotes and backslashes.
        (
            r#""\u0000\u0001\u001f\u007f\b\f\n\r\t\"\\\/ \u2028""#,
            "\"\\u0000\\u0001\\u001f\u{7f}\\b\\f\\n\\r\\t\\\"\\\\/ \u{2028}\"",
        ),
        // Key order is code point order: uppercase, lowercase, then beyond ASCII.
        (
            r#"{"b": 1, "B": 2, "\u00e9": 3, "a": 4, "\ud83d\ude00": 5, "\uffff": 6, "_": 7, "1": 8}"#,
            "{\"1\":8,\"B\":2,\"_\":7,\"a\":4,\"b\":1,\"é\":3,\"\u{ffff}\":6,\"😀\":5}",
        ),
        // A repeated key keeps its last value.
        (r#"{"a": 1, "a": 2}"#, r#"{"a":2}"#),
        // Integers stay exact.
        ("-0", "0"),
        ("0", "0"),
        ("-12", "-12"),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
        // Floats are repr(float).
        ("1.0", "1.0"),
        ("1.50", "1.5"),
        ("-0.0", "-0.0"),
        ("0.0", "0.0"),
        ("1e2", "100.0"),
        ("1E2", "100.0"),
        ("1e+2", "100.0"),
        ("1e16", "1e+16"),
        ("1e15", "1000000000000000.0"),
        ("123456789012345678.0", "1.2345678901234568e+17"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("0.000123", "0.000123"),
        ("0.0000123", "1.23e-05"),
        ("1.5e300", "1.5e+300"),
        ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("1e400", "Infinity"),
        ("-1e400", "-Infinity"),
        ("1e-400", "0.0"),
        ("0.1", "0.1"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("2.5", "2.5"),
        ("1e22", "1e+22"),
        ("1e-7", "1e-07"),
        ("9007199254740993.0", "9007199254740992.0"),
        ("12345.678", "12345.678"),
        ("-1.25e-10", "-1.25e-10"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("[1, 2.0, \"3\", [true, null]]", "[1,2.0,\"3\",[true,null]]"),
        ("\r\n\t [ ]\n", "[]"),
    ];

    #[test]
    fn matches_python_on_every_vector() {
        for (input, want) in PYTHON_VECTORS {
            assert_eq!(canon(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn rejects_what_python_rejects() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{'a': 1}",
            "{\"a\" 1}",
            "{a: 1}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "-",
            "[1 2]",
            "\"abc",
            "\"a\tb\"",
            "\"a\nb\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
            "nul",
            "True",
            "nan",
            "-NaN",
            "{} {}",
            "[1] x",
        ] {
            assert!(canonical(bad.as_bytes()).is_err(), "{bad:?} should fail");
        }
        assert_eq!(canonical(b"\xff"), Err(PyJsonError::NotUtf8));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(canonical(deep.as_bytes()), Err(PyJsonError::TooDeep));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(canonical(ok.as_bytes()).is_ok());
        let huge = "9".repeat(MAX_INT_DIGITS + 1);
        assert!(canonical(huge.as_bytes()).is_err());
        assert!(canonical("9".repeat(MAX_INT_DIGITS).as_bytes()).is_ok());
        let e = canonical(b"[1,]").unwrap_err().to_string();
        assert!(e.contains("byte 3"), "{e}");
    }

    #[test]
    fn float_repr_table() {
        let table: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (10.0, "10.0"),
            (1e16, "1e+16"),
            (-1e16, "-1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e100, "1e+100"),
            (1e-100, "1e-100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.0 / 3.0, "0.6666666666666666"),
            (123.456, "123.456"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ];
        for (x, want) in table {
            assert_eq!(float_repr(*x), *want, "{x:e}");
        }
    }

    #[test]
    fn accessors() {
        let v = parse(br#"{"a": {"b": "c"}, "n": 1}"#).unwrap();
        assert_eq!(
            v.get("a")
                .and_then(|a| a.get("b"))
                .and_then(PyValue::as_str),
            Some("c")
        );
        assert_eq!(v.get("n").and_then(PyValue::as_str), None);
        assert_eq!(v.get("missing"), None);
        assert_eq!(PyValue::Null.get("a"), None);
    }

    proptest! {
        /// Canonical output is a fixed point: parsing it gives it back.
        #[test]
        fn canonical_is_a_fixed_point(v in arb_value(true)) {
            let once = v.to_canonical();
            let twice = canonical(once.as_bytes()).unwrap();
            prop_assert_eq!(&once, &twice);
            // And serde_json reads it as the same JSON (for finite values).
            let _: serde_json::Value = serde_json::from_str(&once).unwrap();
        }

        /// Whatever serde_json writes (any whitespace, its own escapes), the
        /// canonical form is the same. (Without floats: serde_json's float
        /// parsing is not exact without its `float_roundtrip` feature.)
        #[test]
        fn key_order_and_whitespace_do_not_matter(v in arb_value(false)) {
            let json = v.to_canonical();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(canonical(pretty.as_bytes()).unwrap(), json);
        }

        /// Floats round-trip through repr, as Python's do.
        #[test]
        fn float_repr_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let r = float_repr(x);
            let back: f64 = r.parse().unwrap();
            prop_assert_eq!(back.to_bits(), x.to_bits(), "{}", r);
            prop_assert!(r.contains('.') || r.contains('e'), "{}", r);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = canonical(&bytes);
        }
    }

    fn arb_value(floats: bool) -> impl Strategy<Value = PyValue> {
        let float = any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(move |x| {
                if floats {
                    PyValue::Float(x)
                } else {
                    PyValue::Null
                }
            });
        let leaf = prop_oneof![
            Just(PyValue::Null),
            any::<bool>().prop_map(PyValue::Bool),
            any::<i64>().prop_map(|n| PyValue::Int(n.to_string())),
            float,
            "\\PC{0,12}".prop_map(PyValue::Str),
            "[\\x00-\\x1f\"\\\\]{0,4}".prop_map(PyValue::Str),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(PyValue::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6).prop_map(PyValue::Object),
            ]
        })
    }
}
