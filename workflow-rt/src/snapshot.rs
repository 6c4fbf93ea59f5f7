//! The snapshot envelope: what the store keeps of a suspended workflow.
//!
//! ```text
//! format 1: 1 | workflow name | fingerprint | step number | CtxState | postcard state
//! format 2: 2 | workflow name | workflow version | fingerprint | step number | CtxState | state
//! format 3: 3 | workflow name | workflow version | fingerprint | step number | CtxState
//!             | cancel requested at | state
//! format 4: 4 | workflow name | workflow version | fingerprint | step number | CtxState
//!             | cancel requested at, if it was | published values (key, JSON text) | state
//! ```
//!
//! A snapshot of a workflow's version 1 is written in format 1, as before versions existed, so
//! its bytes (and every stored run) stay what they were; a later version's, in format 2; that
//! of a run whose cancellation was requested, in format 3, whatever its version; that of a run
//! that published values ([`crate::WorkflowCtx::publish`]), in format 4, whatever else.
//!
//! All of it postcard: a header, then the state enum's own encoding. The format version comes
//! first so that a later layout can be recognised; the name and the fingerprint say which code
//! wrote the state, so a snapshot is never decoded by code with another layout (it is parked
//! instead); the step number counts committed steps; the context state carries the workflow's
//! clock, random generator and command sequence.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::context::CtxState;

/// Why a snapshot cannot be resumed by the code at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Written by a version of this library with another envelope layout.
    #[error("snapshot format {found} is not supported (this build reads format {supported})")]
    UnsupportedFormat {
        /// The snapshot's format.
        found: u16,
        /// The format this build reads.
        supported: u16,
    },
    /// Written by another workflow.
    #[error("snapshot belongs to workflow {found:?}, not {expected:?}")]
    WrongWorkflow {
        /// The workflow resuming it.
        expected: String,
        /// The workflow that wrote it.
        found: String,
    },
    /// Written by other code for this workflow: its state layout differs from the one compiled
    /// in. Deploy the code that wrote it (or a migration) and unpark the workflow.
    #[error(
        "snapshot fingerprint {stored:016x} does not match the code of workflow {workflow:?} \
         (fingerprint {code:016x}): the state was written by other code"
    )]
    FingerprintMismatch {
        /// The workflow.
        workflow: String,
        /// The fingerprint of the code that wrote the snapshot.
        stored: u64,
        /// The fingerprint of the code at hand.
        code: u64,
    },
    /// Written by another version of this workflow's code.
    #[error("snapshot of {workflow:?} was written by its version {stored}, not {code}")]
    WrongVersion {
        /// The workflow.
        workflow: String,
        /// The version that wrote the snapshot.
        stored: u32,
        /// The version of the code at hand.
        code: u32,
    },
    /// The bytes do not decode.
    #[error("snapshot does not decode: {0}")]
    Corrupt(String),
    /// The state could not be encoded.
    #[error("state does not encode: {0}")]
    Encode(String),
}

/// A decoded snapshot envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The envelope format ([`Snapshot::FORMAT`] when written by this build).
    pub format: u16,
    /// The workflow's [`crate::Workflow::NAME`].
    pub workflow: String,
    /// The [`crate::Workflow::VERSION`] of the code that wrote it (1 in format 1).
    pub version: u32,
    /// The [`crate::Workflow::fingerprint`] of the code that wrote it.
    pub fingerprint: u64,
    /// How many steps had been committed when it was written.
    pub step: u64,
    /// The workflow's context: clock reading, random generator, next command sequence.
    pub ctx: CtxState,
    /// The postcard encoding of the workflow's state enum.
    pub state: Vec<u8>,
}

/// The part of [`CtxState`] every format writes, in the order its derived encoding has.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct Core {
    now_ms: u64,
    rng: u64,
    seq: u64,
}

impl Core {
    #[inline]
    fn of(ctx: &CtxState) -> Core {
        Core {
            now_ms: ctx.now_ms,
            rng: ctx.rng,
            seq: ctx.seq,
        }
    }

    fn into_ctx(self) -> CtxState {
        CtxState::new(self.now_ms, self.rng, self.seq)
    }
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    workflow: &'a str,
    fingerprint: u64,
    step: u64,
    ctx: Core,
}

#[derive(Serialize, Deserialize)]
struct HeaderV2<'a> {
    workflow: &'a str,
    version: u32,
    fingerprint: u64,
    step: u64,
    ctx: Core,
}

/// Format 4's part after the header: the cancel request's time and the published values (a
/// map, which postcard writes as its length and then each key and value).
#[derive(Serialize)]
struct ExtraOut<'a> {
    cancelled_at: Option<u64>,
    published: &'a BTreeMap<String, String>,
}

/// [`ExtraOut`], read back.
#[derive(Deserialize)]
struct Extra {
    cancelled_at: Option<u64>,
    published: BTreeMap<String, String>,
}

/// Writes the header and whatever the format adds after it (not the state).
#[inline]
fn write_header(
    format: u16,
    workflow: &str,
    version: u32,
    fingerprint: u64,
    step: u64,
    ctx: &CtxState,
    out: Vec<u8>,
) -> Result<Vec<u8>, postcard::Error> {
    let out = postcard::to_extend(&format, out)?;
    let core = Core::of(ctx);
    if format == 1 {
        let header = Header {
            workflow,
            fingerprint,
            step,
            ctx: core,
        };
        return postcard::to_extend(&header, out);
    }
    let header = HeaderV2 {
        workflow,
        version,
        fingerprint,
        step,
        ctx: core,
    };
    let out = postcard::to_extend(&header, out)?;
    match format {
        3 => postcard::to_extend(&ctx.cancelled_at.unwrap_or(0), out),
        4 => {
            let extra = ExtraOut {
                cancelled_at: ctx.cancelled_at,
                published: &ctx.published,
            };
            postcard::to_extend(&extra, out)
        }
        _ => Ok(out),
    }
}

/// The format a snapshot with this context and workflow version is written in: the oldest
/// that holds it (see the module's documentation).
#[inline]
fn format_for(version: u32, ctx: &CtxState) -> u16 {
    if !ctx.published.is_empty() {
        4
    } else if ctx.cancelled_at.is_some() {
        3
    } else if version == 1 {
        1
    } else {
        2
    }
}

impl Snapshot {
    /// The newest envelope format this build writes and reads (it reads every older one).
    pub const FORMAT: u16 = 4;

    /// Encodes an envelope around `state` of version 1 of `workflow` in one buffer (`ctx` by
    /// value or by reference).
    pub fn encode<S: Serialize + ?Sized>(
        workflow: &str,
        fingerprint: u64,
        step: u64,
        ctx: impl std::borrow::Borrow<CtxState>,
        state: &S,
    ) -> Result<Vec<u8>, SnapshotError> {
        Self::encode_version(workflow, 1, fingerprint, step, ctx, state)
    }

    /// Encodes an envelope around `state` of version `version` of `workflow` in one buffer
    /// (format 4 if `ctx` holds published values, else format 3 if it has cancellation
    /// requested, else format 1 for version 1 and format 2 otherwise).
    pub fn encode_version<S: Serialize + ?Sized>(
        workflow: &str,
        version: u32,
        fingerprint: u64,
        step: u64,
        ctx: impl std::borrow::Borrow<CtxState>,
        state: &S,
    ) -> Result<Vec<u8>, SnapshotError> {
        let ctx = ctx.borrow();
        let enc = |e: postcard::Error| SnapshotError::Encode(e.to_string());
        let out = write_header(
            format_for(version, ctx),
            workflow,
            version,
            fingerprint,
            step,
            ctx,
            Vec::with_capacity(64),
        )
        .map_err(enc)?;
        postcard::to_extend(state, out).map_err(enc)
    }

    /// Decodes an envelope (the state stays encoded: see [`Snapshot::decode_state`]).
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let corrupt = |e: postcard::Error| SnapshotError::Corrupt(e.to_string());
        let (format, rest) = postcard::take_from_bytes::<u16>(bytes).map_err(corrupt)?;
        let (h, ctx, state) = match format {
            1 => {
                let (h, state) = postcard::take_from_bytes::<Header<'_>>(rest).map_err(corrupt)?;
                (
                    HeaderV2 {
                        workflow: h.workflow,
                        version: 1,
                        fingerprint: h.fingerprint,
                        step: h.step,
                        ctx: h.ctx,
                    },
                    h.ctx.into_ctx(),
                    state,
                )
            }
            2 => {
                let (h, state) =
                    postcard::take_from_bytes::<HeaderV2<'_>>(rest).map_err(corrupt)?;
                let ctx = h.ctx.into_ctx();
                (h, ctx, state)
            }
            3 => {
                let (h, rest) = postcard::take_from_bytes::<HeaderV2<'_>>(rest).map_err(corrupt)?;
                let (at, state) = postcard::take_from_bytes::<u64>(rest).map_err(corrupt)?;
                let ctx = h.ctx.into_ctx().with_cancel_requested(at);
                (h, ctx, state)
            }
            4 => {
                let (h, rest) = postcard::take_from_bytes::<HeaderV2<'_>>(rest).map_err(corrupt)?;
                let (extra, state) = postcard::take_from_bytes::<Extra>(rest).map_err(corrupt)?;
                let mut ctx = h.ctx.into_ctx();
                ctx.cancelled_at = extra.cancelled_at;
                ctx.published = extra.published;
                (h, ctx, state)
            }
            found => {
                return Err(SnapshotError::UnsupportedFormat {
                    found,
                    supported: Self::FORMAT,
                });
            }
        };
        Ok(Snapshot {
            format,
            workflow: h.workflow.to_string(),
            version: h.version,
            fingerprint: h.fingerprint,
            step: h.step,
            ctx,
            state: state.to_vec(),
        })
    }

    /// Encodes this envelope, in its own [`Snapshot::format`], or a later one where its
    /// context needs it (format 4 for published values, 3 for a cancel request).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = write_header(
            self.format.max(format_for(self.version, &self.ctx)),
            &self.workflow,
            self.version,
            self.fingerprint,
            self.step,
            &self.ctx,
            Vec::with_capacity(64 + self.state.len()),
        )
        .unwrap_or_default();
        out.extend_from_slice(&self.state);
        out
    }

    /// Checks that the code of `workflow` with `layout` may resume this snapshot: the names
    /// match and the layout accepts the stored fingerprint ([`crate::Layout::accepts`]).
    pub fn check_layout(
        &self,
        workflow: &str,
        layout: &crate::Layout,
    ) -> Result<(), SnapshotError> {
        let fingerprint = if layout.accepts(self.fingerprint) {
            self.fingerprint
        } else {
            layout.fingerprint
        };
        self.check(workflow, fingerprint)
    }

    /// Checks that the code of `workflow` with `fingerprint` may resume this snapshot.
    pub fn check(&self, workflow: &str, fingerprint: u64) -> Result<(), SnapshotError> {
        if self.workflow != workflow {
            return Err(SnapshotError::WrongWorkflow {
                expected: workflow.to_string(),
                found: self.workflow.clone(),
            });
        }
        if self.fingerprint != fingerprint {
            return Err(SnapshotError::FingerprintMismatch {
                workflow: workflow.to_string(),
                stored: self.fingerprint,
                code: fingerprint,
            });
        }
        Ok(())
    }

    /// Decodes the state enum, which must take every byte (the state is the end of the
    /// envelope: bytes left over mean the snapshot is damaged).
    pub fn decode_state<S: DeserializeOwned>(&self) -> Result<S, SnapshotError> {
        let (state, rest) = postcard::take_from_bytes(&self.state)
            .map_err(|e| SnapshotError::Corrupt(format!("state: {e}")))?;
        if !rest.is_empty() {
            return Err(SnapshotError::Corrupt(format!(
                "state: {} bytes left over after it",
                rest.len()
            )));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CtxState {
        CtxState::new(1_700_000_000_000, 42, 7)
    }

    #[test]
    fn round_trips() {
        let bytes = Snapshot::encode("checkout", 0xabcd, 3, ctx(), &(5u32, "x".to_string()))
            .expect("encode");
        let s = Snapshot::decode(&bytes).expect("decode");
        assert_eq!(
            (
                s.format,
                s.workflow.as_str(),
                s.fingerprint,
                s.step,
                s.ctx.clone()
            ),
            (1, "checkout", 0xabcd, 3, ctx())
        );
        assert_eq!(
            s.decode_state::<(u32, String)>().expect("state"),
            (5, "x".to_string())
        );
        assert_eq!(s.to_bytes(), bytes);
        s.check("checkout", 0xabcd).expect("same code");
        assert_eq!(s.version, 1);
    }

    #[test]
    fn a_requested_cancellation_is_written_in_format_3() {
        let ctx = ctx().with_cancel_requested(1_700_000_000_500);
        let bytes = Snapshot::encode("checkout", 0xabcd, 3, &ctx, &7u8).expect("encode");
        let s = Snapshot::decode(&bytes).expect("decode");
        assert_eq!((s.format, s.version, &s.ctx), (3, 1, &ctx));
        assert_eq!(s.ctx.cancel_requested_at(), Some(1_700_000_000_500));
        assert_eq!(s.decode_state::<u8>().expect("state"), 7);
        assert_eq!(s.to_bytes(), bytes);
        // Without a request, the bytes are those of format 1, as before.
        let plain =
            Snapshot::encode("checkout", 0xabcd, 3, super::tests::ctx(), &7u8).expect("encode");
        assert_eq!(Snapshot::decode(&plain).expect("decode").format, 1);
    }

    #[test]
    fn published_values_are_written_in_format_4() {
        for cancelled in [None, Some(1_700_000_000_500)] {
            let mut ctx = ctx()
                .with_published("progress", "\"3/10\"")
                .with_published("url", "\"https://example.com/r/1\"");
            ctx.cancelled_at = cancelled;
            for version in [1, 3] {
                let bytes = Snapshot::encode_version("checkout", version, 0xabcd, 5, &ctx, &7u8)
                    .expect("encode");
                let s = Snapshot::decode(&bytes).expect("decode");
                assert_eq!((s.format, s.version, s.step, &s.ctx), (4, version, 5, &ctx));
                assert_eq!(s.ctx.published()["progress"], "\"3/10\"");
                assert_eq!(s.ctx.cancel_requested_at(), cancelled);
                assert_eq!(s.decode_state::<u8>().expect("state"), 7);
                assert_eq!(s.to_bytes(), bytes);
            }
        }
        // An envelope of an older format given published values is written in format 4, not
        // without them.
        let plain = Snapshot::encode("checkout", 0xabcd, 3, ctx(), &7u8).expect("encode");
        let mut s = Snapshot::decode(&plain).expect("decode");
        s.ctx = s.ctx.with_published("k", "1");
        let again = Snapshot::decode(&s.to_bytes()).expect("decode");
        assert_eq!(
            (again.format, again.ctx.published()["k"].as_str()),
            (4, "1")
        );
    }

    /// Format 4's bytes, written out: stored runs keep them, so they may not change.
    #[test]
    fn format_4_is_these_bytes() {
        let ctx = CtxState::new(1, 2, 3)
            .with_cancel_requested(5)
            .with_published("a", "1")
            .with_published("b", "\"x\"");
        let bytes = Snapshot::encode_version("w", 2, 6, 7, &ctx, &8u8).expect("encode");
        assert_eq!(
            bytes,
            [
                4, // format
                1, b'w', 2, 6, 7, // workflow, version, fingerprint, step
                1, 2, 3, // clock, random generator, sequence
                1, 5, // cancel requested at 5
                2, 1, b'a', 1, b'1', 1, b'b', 3, b'"', b'x', b'"', // two values
                8,    // the state
            ]
        );
        let s = Snapshot::decode(&bytes).expect("decode");
        assert_eq!(s.ctx, ctx);
    }

    #[test]
    fn a_later_version_is_written_in_format_2() {
        let bytes =
            Snapshot::encode_version("checkout", 3, 0xabcd, 4, ctx(), &7u8).expect("encode");
        let s = Snapshot::decode(&bytes).expect("decode");
        assert_eq!(
            (
                s.format,
                s.workflow.as_str(),
                s.version,
                s.fingerprint,
                s.step
            ),
            (2, "checkout", 3, 0xabcd, 4)
        );
        assert_eq!(s.to_bytes(), bytes);
        assert_eq!(s.decode_state::<u8>().expect("state"), 7);
        // Version 1 keeps the bytes it always had.
        let v1 = Snapshot::encode_version("checkout", 1, 0xabcd, 4, ctx(), &7u8).expect("encode");
        assert_eq!(
            v1,
            Snapshot::encode("checkout", 0xabcd, 4, ctx(), &7u8).expect("encode")
        );
        assert_eq!(Snapshot::decode(&v1).expect("decode").format, 1);
    }

    #[test]
    fn refuses_other_code() {
        let s = Snapshot::decode(&Snapshot::encode("checkout", 1, 0, ctx(), &0u8).expect("encode"))
            .expect("decode");
        assert!(matches!(
            s.check("checkout", 2),
            Err(SnapshotError::FingerprintMismatch {
                stored: 1,
                code: 2,
                ..
            })
        ));
        assert!(matches!(
            s.check("refund", 1),
            Err(SnapshotError::WrongWorkflow { .. })
        ));
    }

    #[test]
    fn refuses_damaged_bytes() {
        assert!(matches!(
            Snapshot::decode(&[]),
            Err(SnapshotError::Corrupt(_))
        ));
        assert!(matches!(
            Snapshot::decode(&[9]),
            Err(SnapshotError::UnsupportedFormat { found: 9, .. })
        ));
        let bytes = Snapshot::encode("checkout", 1, 0, ctx(), &300u16).expect("encode");
        assert!(matches!(
            Snapshot::decode(&bytes[..4]),
            Err(SnapshotError::Corrupt(_))
        ));
        let s = Snapshot::decode(&bytes).expect("decode");
        assert!(matches!(
            s.decode_state::<String>(),
            Err(SnapshotError::Corrupt(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            matches!(
                Snapshot::decode(&longer).expect("decode").decode_state::<u16>(),
                Err(SnapshotError::Corrupt(m)) if m.contains("left over")
            ),
            "a state followed by stray bytes is damaged"
        );
    }
}
