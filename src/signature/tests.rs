use super::*;

fn secret() -> Secret {
    Secret::new("testsecret")
}

#[test]
fn matches_openssl_for_a_known_body() {
    // printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac testsecret
    assert_eq!(
        sign(&secret(), br#"{"a":1}"#),
        "0f4a604a9e9ad182034b3224fb61724a9ef127c2d5de3554995cc31f9cc3c499"
    );
}

#[test]
fn accepts_its_own_signature_in_either_case() {
    let body = br#"{"message_id":"m1"}"#;
    let signature = sign(&secret(), body);
    assert_eq!(
        verify_signature(&secret(), body, Some(signature.as_bytes())),
        Ok(())
    );
    let upper = signature.to_ascii_uppercase();
    assert_eq!(
        verify_signature(&secret(), body, Some(upper.as_bytes())),
        Ok(())
    );
}

#[test]
fn refuses_missing_empty_malformed_and_wrong_signatures() {
    let body = b"{}";
    let good = sign(&secret(), body);
    let other_body = sign(&secret(), b"{} ");
    let other_key = sign(&Secret::new("other"), body);
    let cases: [(Option<&[u8]>, SignatureError); 6] = [
        (None, SignatureError::Missing),
        (Some(b""), SignatureError::Missing),
        (Some(b"zz"), SignatureError::Malformed),
        (Some(&good.as_bytes()[..62]), SignatureError::Malformed),
        (Some(other_body.as_bytes()), SignatureError::Mismatch),
        (Some(other_key.as_bytes()), SignatureError::Mismatch),
    ];
    for (signature, expected) in cases {
        assert_eq!(verify_signature(&secret(), body, signature), Err(expected));
    }
}

mod standard_webhooks {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::Value;

    use super::super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const GOOD: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    /// Headers in the order given, any name any number of times.
    #[derive(Clone, Default)]
    struct RequestHeaders(Vec<(&'static str, Vec<u8>)>);

    impl RequestHeaders {
        fn new() -> Self {
            Self::default()
        }

        /// Replaces every value of `name`.
        fn insert(&mut self, name: &'static str, value: impl AsRef<[u8]>) {
            self.0.retain(|(existing, _)| *existing != name);
            self.append(name, value);
        }

        fn remove(&mut self, name: &str) {
            self.0.retain(|(existing, _)| *existing != name);
        }

        fn append(&mut self, name: &'static str, value: impl AsRef<[u8]>) {
            self.0.push((name, value.as_ref().to_vec()));
        }
    }

    impl Headers for RequestHeaders {
        fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
            let name = name.to_owned();
            self.0
                .iter()
                .filter(move |(existing, _)| existing.eq_ignore_ascii_case(&name))
                .map(|(_, value)| value.as_slice())
        }
    }

    fn verifier(current: &str, previous: &[&str], tolerance: u64) -> Verifier {
        let previous: Vec<Secret> = previous.iter().copied().map(Secret::new).collect();
        Verifier::new(
            &Secret::new(current),
            &previous,
            Duration::from_secs(tolerance),
        )
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> RequestHeaders {
        let mut headers = RequestHeaders::new();
        for (name, value) in [
            (ID_HEADER, id),
            (TIMESTAMP_HEADER, timestamp),
            (STANDARD_SIGNATURE_HEADER, signature),
        ] {
            headers.insert(name, value);
        }
        headers
    }

    fn at(
        verifier: &Verifier,
        headers: &RequestHeaders,
        body: &[u8],
        now: u64,
    ) -> Result<(), Rejection> {
        signer(verifier, headers, body, now).map(drop)
    }

    fn signer(
        verifier: &Verifier,
        headers: &RequestHeaders,
        body: &[u8],
        now: u64,
    ) -> Result<SignedWith, Rejection> {
        verifier.verify_at(headers, body, UNIX_EPOCH + Duration::from_secs(now))
    }

    /// Made by the specification's Python library (see the script beside the JSON).
    #[test]
    fn accepts_and_reproduces_the_reference_library_vectors() {
        let file: Value = serde_json::from_str(include_str!(
            "../../tests/data/standard_webhooks_vectors.json"
        ))
        .unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 4);
        for vector in vectors {
            let secret = vector["secret"].as_str().unwrap();
            let id = vector["id"].as_str().unwrap();
            let ts = vector["timestamp"].as_u64().unwrap();
            let body = vector["body"].as_str().unwrap().as_bytes();
            let signature = vector["signature"].as_str().unwrap();
            let request = headers(id, &ts.to_string(), signature);
            assert_eq!(
                at(&verifier(secret, &[], 300), &request, body, ts),
                Ok(()),
                "{vector}"
            );
            let ours = sign_standard(&Secret::new(secret), id, ts, body).unwrap();
            assert_eq!(ours, signature, "{vector}");
        }
    }

    #[test]
    fn an_empty_or_wrong_length_signature_never_matches() {
        let verifier = verifier(SECRET, &[], 300);
        let truncated = &GOOD[..GOOD.len() - 4];
        let longer = format!("{GOOD}AAAA");
        for signature in [
            "v1,", "v1", "v1, ", "v1,=", "v1,AAAA", truncated, &longer, "", " ",
        ] {
            let request = headers(ID, &TS.to_string(), signature);
            assert_eq!(
                at(&verifier, &request, BODY, TS),
                Err(Rejection::InvalidSignature),
                "{signature:?}"
            );
        }
    }

    #[test]
    fn any_v1_entry_may_match_and_other_versions_are_ignored() {
        let verifier = verifier(SECRET, &[], 300);
        let other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let unpadded = GOOD.trim_end_matches('=');
        for signature in [
            format!("{other} {GOOD}"),
            format!("v1a,{} {GOOD}", &GOOD[3..]),
            format!("{GOOD}  {other}"),
            unpadded.to_owned(),
        ] {
            let request = headers(ID, &TS.to_string(), &signature);
            assert_eq!(at(&verifier, &request, BODY, TS), Ok(()), "{signature}");
        }
        let only_v1a = headers(ID, &TS.to_string(), &format!("v1a,{}", &GOOD[3..]));
        assert_eq!(
            at(&verifier, &only_v1a, BODY, TS),
            Err(Rejection::InvalidSignature)
        );
    }

    /// The specification's libraries compare base64 texts: a signature whose last
    /// character differs only in the bits no byte uses is another signature to them.
    #[test]
    fn a_signature_with_unused_bits_set_in_its_last_character_never_matches() {
        let verifier = verifier(SECRET, &[], 300);
        assert!(
            GOOD.ends_with("E="),
            "the vector's last character is E: 0001 00"
        );
        let stem = &GOOD[..GOOD.len() - 2];
        for last in ["F", "G", "H", "F=", "G=", "H="] {
            let signature = format!("{stem}{last}");
            let request = headers(ID, &TS.to_string(), &signature);
            assert_eq!(
                at(&verifier, &request, BODY, TS),
                Err(Rejection::InvalidSignature),
                "{signature}"
            );
        }
        let canonical = headers(ID, &TS.to_string(), &format!("{stem}E"));
        assert_eq!(at(&verifier, &canonical, BODY, TS), Ok(()));
    }

    /// As Python's `b64decode` and Go's `StdEncoding` read it: `AB==` is one zero byte,
    /// although its last character has a bit set that no byte uses.
    #[test]
    fn a_key_is_read_whatever_the_unused_bits_of_its_last_character() {
        for secret in ["whsec_AA==", "whsec_AB==", "whsec_AB"] {
            assert_eq!(
                standard_key(&Secret::new(secret)),
                Some(Ok(vec![0])),
                "{secret}"
            );
        }
    }

    /// Both schemes alike: a signature header given twice is as good as missing.
    #[test]
    fn an_x_signature_given_twice_is_refused_whichever_comes_first() {
        let verifier = verifier(SECRET, &[], 300);
        let good = sign(&Secret::new(SECRET), BODY);
        let mut once = RequestHeaders::new();
        once.append(SIGNATURE_HEADER, &good);
        assert_eq!(at(&verifier, &once, BODY, TS), Ok(()));
        for [first, second] in [[good.as_str(), "00"], ["00", good.as_str()]] {
            let mut twice = RequestHeaders::new();
            twice.append(SIGNATURE_HEADER, first);
            twice.append(SIGNATURE_HEADER, second);
            assert_eq!(
                at(&verifier, &twice, BODY, TS),
                Err(Rejection::InvalidSignature)
            );
        }
    }

    #[test]
    fn only_the_first_eight_v1_entries_are_checked_and_other_versions_do_not_count() {
        let verifier = verifier(SECRET, &[], 300);
        let other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let entries = |wrong: usize| {
            let mut list = vec![other; wrong];
            list.push(GOOD);
            list.join(" ")
        };
        let eighth = headers(ID, &TS.to_string(), &entries(MAX_SIGNATURES - 1));
        assert_eq!(at(&verifier, &eighth, BODY, TS), Ok(()));
        let ninth = headers(ID, &TS.to_string(), &entries(MAX_SIGNATURES));
        assert_eq!(
            at(&verifier, &ninth, BODY, TS),
            Err(Rejection::InvalidSignature)
        );
        let other_versions = vec![format!("v1a,{}", &GOOD[3..]); 2 * MAX_SIGNATURES];
        let after_others = format!("{} {GOOD}", other_versions.join(" "));
        let request = headers(ID, &TS.to_string(), &after_others);
        assert_eq!(at(&verifier, &request, BODY, TS), Ok(()));
    }

    #[test]
    fn the_tolerance_is_inclusive_in_both_directions_and_stale_only_when_signed() {
        let verifier = verifier(SECRET, &[], 300);
        let request = headers(ID, &TS.to_string(), GOOD);
        for now in [TS - 300, TS + 300] {
            assert_eq!(at(&verifier, &request, BODY, now), Ok(()));
        }
        for now in [TS - 301, TS + 301, 0, TS * 2] {
            assert_eq!(
                at(&verifier, &request, BODY, now),
                Err(Rejection::StaleTimestamp(SignedWith::Current))
            );
        }
        let forged = headers(ID, "1614265331", GOOD);
        assert_eq!(
            at(&verifier, &forged, BODY, TS),
            Err(Rejection::InvalidSignature)
        );
    }

    #[test]
    fn a_timestamp_is_decimal_digits_only_and_every_header_is_required_once() {
        let verifier = verifier(SECRET, &[], 300);
        for timestamp in [
            "+1614265330",
            " 1614265330",
            "1614265330.0",
            "-1",
            "",
            "0x1",
        ] {
            let request = headers(ID, timestamp, GOOD);
            assert_eq!(
                at(&verifier, &request, BODY, TS),
                Err(Rejection::InvalidSignature),
                "{timestamp:?}"
            );
        }
        for missing in [ID_HEADER, TIMESTAMP_HEADER] {
            let mut request = headers(ID, &TS.to_string(), GOOD);
            request.remove(missing);
            assert_eq!(
                at(&verifier, &request, BODY, TS),
                Err(Rejection::InvalidSignature)
            );
        }
        let mut twice = headers(ID, &TS.to_string(), GOOD);
        twice.append(ID_HEADER, "msg_other");
        assert_eq!(
            at(&verifier, &twice, BODY, TS),
            Err(Rejection::InvalidSignature)
        );
    }

    /// Whichever scheme, and whether the current secret is `whsec_` or plain (then the
    /// first Standard Webhooks key is a previous secret's).
    #[test]
    fn the_verifier_says_whether_a_previous_secret_signed() {
        let whsec_old = SECRET;
        let whsec_new = "whsec_c2VjcmV0";
        let standard = |secret: &str| {
            let signature = sign_standard(&Secret::new(secret), ID, TS, BODY).unwrap();
            headers(ID, &TS.to_string(), &signature)
        };
        let hex = |secret: &str| {
            let mut request = RequestHeaders::new();
            request.insert(SIGNATURE_HEADER, sign(&Secret::new(secret), BODY));
            request
        };
        let rotated = verifier(whsec_new, &["plain", whsec_old], 300);
        let cases = [
            (standard(whsec_new), Ok(SignedWith::Current)),
            (standard(whsec_old), Ok(SignedWith::Previous)),
            (hex(whsec_new), Ok(SignedWith::Current)),
            (hex("plain"), Ok(SignedWith::Previous)),
            (hex(whsec_old), Ok(SignedWith::Previous)),
        ];
        for (request, expected) in &cases {
            assert_eq!(signer(&rotated, request, BODY, TS), *expected);
        }
        let plain_current = verifier("plain", &[whsec_old], 300);
        assert_eq!(
            signer(&plain_current, &standard(whsec_old), BODY, TS),
            Ok(SignedWith::Previous)
        );
        assert_eq!(
            signer(&plain_current, &hex("plain"), BODY, TS),
            Ok(SignedWith::Current)
        );
    }

    #[test]
    fn previous_secrets_stay_accepted_and_plain_secrets_serve_x_signature_alone() {
        let rotated = verifier("whsec_c2VjcmV0", &["plain", SECRET], 300);
        let request = headers(ID, &TS.to_string(), GOOD);
        assert_eq!(at(&rotated, &request, BODY, TS), Ok(()));

        let plain = verifier("plain", &[], 300);
        assert_eq!(
            at(&plain, &request, BODY, TS),
            Err(Rejection::InvalidSignature)
        );
        // The X-Signature key of a whsec_ secret is the secret as written.
        let mut hex = RequestHeaders::new();
        let signature = sign(&Secret::new(SECRET), BODY);
        hex.insert(SIGNATURE_HEADER, &signature);
        assert_eq!(at(&rotated, &hex, BODY, TS), Ok(()));
        // A request carrying webhook-signature is judged by that scheme alone.
        let mut both = request.clone();
        both.insert(STANDARD_SIGNATURE_HEADER, "v1,");
        both.insert(SIGNATURE_HEADER, &signature);
        assert_eq!(
            at(&rotated, &both, BODY, TS),
            Err(Rejection::InvalidSignature)
        );
    }

    #[test]
    fn x_signature_accepts_every_configured_secret() {
        let rotated = verifier("new", &["old", "older"], 300);
        for secret in ["new", "old", "older"] {
            let mut request = RequestHeaders::new();
            let signature = sign(&Secret::new(secret), BODY);
            request.insert(SIGNATURE_HEADER, &signature);
            assert_eq!(at(&rotated, &request, BODY, 0), Ok(()), "{secret}");
        }
        let mut request = RequestHeaders::new();
        let signature = sign(&Secret::new("unknown"), BODY);
        request.insert(SIGNATURE_HEADER, &signature);
        assert_eq!(
            at(&rotated, &request, BODY, 0),
            Err(Rejection::InvalidSignature)
        );
    }
}
