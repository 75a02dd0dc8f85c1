//! Signed reports: JSON documents an aggregator signs (a supplier's compliance evidence, say) so
//! that anyone can check them offline, together with the node checkpoints they cite.
//!
//! A signed report is the JSON object `{"report": R, "signature": N}`. `N` is a signed note
//! (`note`) by the aggregator's log key whose text is three lines:
//!
//! ```text
//! <aggregator origin>
//! evfed report v1
//! <base64 of SHA-256 of the RFC 8785 canonical form of R>
//! ```
//!
//! `R` carries `"aggregator"` (the origin) and `"signed_by"` (the verifier key), and may cite
//! checkpoints under `"checkpoints"`: an array of `{"origin", "vkeys": [...], "note"}`, each a
//! member's signed checkpoint exactly as the aggregator accepted it. Verification checks the
//! report's signature, then every cited checkpoint against the keys cited with it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jcs;
use crate::note::{self, SigningKey, VerifierKey};
use crate::trust::Unverified;

/// The second line of a report note.
pub const REPORT_LINE: &str = "evfed report v1";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not a signed report: {0}")]
    Shape(String),
    #[error("the report cannot be canonicalised: {0}")]
    Canonical(#[from] jcs::JcsError),
    #[error("the signature does not verify: {0}")]
    Signature(#[from] note::NoteError),
    #[error("the signed note is not about this report: {0}")]
    Mismatch(&'static str),
    #[error("cited checkpoint {index} ({origin}): {reason}")]
    Checkpoint {
        index: usize,
        origin: String,
        reason: String,
    },
}

/// What a verified report says about itself.
#[derive(Debug, Clone)]
pub struct VerifiedReport {
    pub aggregator: String,
    /// The key whose signature verified.
    pub signed_by: String,
    /// Cited checkpoints that verified: (origin, tree size).
    pub checkpoints: Vec<(String, u64)>,
    pub report: Value,
}

fn note_text(origin: &str, report: &Value) -> Result<String, ReportError> {
    let canonical = jcs::to_canonical_vec(report)?;
    Ok(format!(
        "{origin}\n{REPORT_LINE}\n{}\n",
        B64.encode(Sha256::digest(&canonical))
    ))
}

/// Signs `report` (an object; `aggregator` and `signed_by` are set here) with the aggregator's
/// log key.
pub fn sign(mut report: Value, origin: &str, key: &SigningKey) -> Result<Value, ReportError> {
    let Some(obj) = report.as_object_mut() else {
        return Err(ReportError::Shape("a report is a JSON object".into()));
    };
    obj.insert("aggregator".into(), Value::String(origin.to_owned()));
    obj.insert(
        "signed_by".into(),
        Value::String(key.verifier().to_string()),
    );
    let note = note::sign(&note_text(origin, &report)?, &[key])?;
    Ok(serde_json::json!({"report": report, "signature": note}))
}

/// Verifies a signed report: its signature by one of `trusted` (or, when `trusted` is empty, by
/// the key the report names, which proves integrity but not authorship), and every checkpoint
/// it cites.
pub fn verify(signed: &[u8], trusted: &[VerifierKey]) -> Result<VerifiedReport, ReportError> {
    let doc: Value =
        serde_json::from_slice(signed).map_err(|e| ReportError::Shape(e.to_string()))?;
    let (Some(report), Some(sig)) = (
        doc.get("report"),
        doc.get("signature").and_then(Value::as_str),
    ) else {
        return Err(ReportError::Shape(
            "expected {\"report\": …, \"signature\": …}".into(),
        ));
    };
    let str_field = |k: &str| {
        report
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| ReportError::Shape(format!("the report has no {k:?}")))
    };
    let aggregator = str_field("aggregator")?;
    let named: VerifierKey = str_field("signed_by")?
        .parse()
        .map_err(|e| ReportError::Shape(format!("signed_by: {e}")))?;
    let keys = if trusted.is_empty() {
        vec![named]
    } else {
        trusted.to_vec()
    };
    let opened = note::open(sig.as_bytes(), &keys)?;
    if opened.text != note_text(aggregator, report)? {
        return Err(ReportError::Mismatch(
            "its text is not the report's origin, version line and hash",
        ));
    }
    let signed_by = opened.verified_by.first().cloned().unwrap_or_default();
    let mut checkpoints = Vec::new();
    for (index, c) in report
        .get("checkpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let origin = c
            .get("origin")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let fail = |reason: String| ReportError::Checkpoint {
            index,
            origin: origin.clone(),
            reason,
        };
        let note = c
            .get("note")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("no note".into()))?;
        let vkeys = c
            .get("vkeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|k| k.as_str().and_then(|k| k.parse::<VerifierKey>().ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| fail("a cited key is not a verifier key".into()))?;
        let cp = Unverified::new(note.as_bytes().to_vec())
            .verify_checkpoint(&vkeys)
            .map_err(|e| fail(e.to_string()))?;
        if cp.checkpoint().origin != origin {
            return Err(fail(format!(
                "the checkpoint is of {:?}",
                cp.checkpoint().origin
            )));
        }
        checkpoints.push((origin.clone(), cp.checkpoint().tree_size));
    }
    Ok(VerifiedReport {
        aggregator: aggregator.to_owned(),
        signed_by,
        checkpoints,
        report: report.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::merkle::Hash;

    fn key(name: &str, seed: u8) -> SigningKey {
        SigningKey::from_seed(name, &[seed; 32]).unwrap()
    }

    fn report_citing(member: &SigningKey) -> Value {
        let cp = Checkpoint {
            origin: "evfed.lpl.example".into(),
            tree_size: 42,
            root: Hash([7; 32]),
            time: 1_764_000_000,
        }
        .sign(member)
        .unwrap();
        serde_json::json!({
            "supplier": "LPL", "status": "red",
            "checkpoints": [{"origin": "evfed.lpl.example",
                             "vkeys": [member.verifier().to_string()],
                             "note": String::from_utf8(cp.note_bytes().to_vec()).unwrap()}]
        })
    }

    #[test]
    fn a_signed_report_verifies_and_any_change_breaks_it() {
        let agg = key("evfed.london.example", 1);
        let member = key("evfed.lpl.example", 2);
        let signed = sign(report_citing(&member), "evfed.london.example", &agg).unwrap();
        let bytes = serde_json::to_vec_pretty(&signed).unwrap();
        let v = verify(&bytes, &[agg.verifier().clone()]).unwrap();
        assert_eq!(v.aggregator, "evfed.london.example");
        assert_eq!(v.checkpoints, vec![("evfed.lpl.example".to_owned(), 42)]);
        assert!(
            verify(&bytes, &[]).is_ok(),
            "the named key is used when none is pinned"
        );

        // Another aggregator's key: refused.
        let other = key("evfed.london.example", 3);
        assert!(matches!(
            verify(&bytes, &[other.verifier().clone()]),
            Err(ReportError::Signature(_))
        ));
        // A changed figure: the hash no longer matches.
        let mut changed = signed.clone();
        changed["report"]["status"] = "green".into();
        assert!(matches!(
            verify(
                &serde_json::to_vec(&changed).unwrap(),
                &[agg.verifier().clone()]
            ),
            Err(ReportError::Mismatch(_))
        ));
        // A cited checkpoint altered (its size), or cited with the wrong key: refused.
        let mut forged = report_citing(&member);
        let note = forged["checkpoints"][0]["note"]
            .as_str()
            .unwrap()
            .replacen("\n42\n", "\n43\n", 1);
        forged["checkpoints"][0]["note"] = note.into();
        let forged = sign(forged, "evfed.london.example", &agg).unwrap();
        assert!(matches!(
            verify(
                &serde_json::to_vec(&forged).unwrap(),
                &[agg.verifier().clone()]
            ),
            Err(ReportError::Checkpoint { .. })
        ));
        let mut wrong_key = report_citing(&member);
        wrong_key["checkpoints"][0]["vkeys"] =
            serde_json::json!([key("evfed.lpl.example", 9).verifier().to_string()]);
        let wrong_key = sign(wrong_key, "evfed.london.example", &agg).unwrap();
        assert!(
            verify(
                &serde_json::to_vec(&wrong_key).unwrap(),
                &[agg.verifier().clone()]
            )
            .is_err()
        );
    }
}
