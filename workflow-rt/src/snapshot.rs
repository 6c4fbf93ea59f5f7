//! The snapshot envelope: what the store keeps of a suspended workflow.
//!
//! ```text
//! format 1: 1 | workflow name | fingerprint | step number | CtxState | postcard state
//! format 2: 2 | workflow name | workflow version | fingerprint | step number | CtxState | state
//! format 3: 3 | workflow name | workflow version | fingerprint | step number | CtxState
//!             | cancel requested at | state
//! ```
//!
//! A snapshot of a workflow's version 1 is written in format 1, as before versions existed, so
//! its bytes (and every stored run) stay what they were; a later version's, in format 2; that
//! of a run whose cancellation was requested, in format 3, whatever its version.
//!
//! All of it postcard: a header, then the state enum's own encoding. The format version comes
//! first so that a later layout can be recognised; the name and the fingerprint say which code
//! wrote the state, so a snapshot is never decoded by code with another layout (it is parked
//! instead); the step number counts committed steps; the context state carries the workflow's
//! clock, random generator and command sequence.

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

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    workflow: &'a str,
    fingerprint: u64,
    step: u64,
    ctx: CtxState,
}

#[derive(Serialize, Deserialize)]
struct HeaderV2<'a> {
    workflow: &'a str,
    version: u32,
    fingerprint: u64,
    step: u64,
    ctx: CtxState,
}

impl Snapshot {
    /// The newest envelope format this build writes and reads (it reads every older one).
    pub const FORMAT: u16 = 3;

    /// Encodes an envelope around `state` of version 1 of `workflow` in one buffer.
    pub fn encode<S: Serialize + ?Sized>(
        workflow: &str,
        fingerprint: u64,
        step: u64,
        ctx: CtxState,
        state: &S,
    ) -> Result<Vec<u8>, SnapshotError> {
        Self::encode_version(workflow, 1, fingerprint, step, ctx, state)
    }

    /// Encodes an envelope around `state` of version `version` of `workflow` in one buffer
    /// (format 3 if `ctx` has cancellation requested, else format 1 for version 1 and format 2
    /// otherwise).
    pub fn encode_version<S: Serialize + ?Sized>(
        workflow: &str,
        version: u32,
        fingerprint: u64,
        step: u64,
        ctx: CtxState,
        state: &S,
    ) -> Result<Vec<u8>, SnapshotError> {
        let enc = |e: postcard::Error| SnapshotError::Encode(e.to_string());
        let out = if let Some(at) = ctx.cancelled_at {
            let out = postcard::to_extend(&3u16, Vec::with_capacity(64)).map_err(enc)?;
            let header = HeaderV2 {
                workflow,
                version,
                fingerprint,
                step,
                ctx,
            };
            let out = postcard::to_extend(&header, out).map_err(enc)?;
            postcard::to_extend(&at, out).map_err(enc)?
        } else if version == 1 {
            let out = postcard::to_extend(&1u16, Vec::with_capacity(64)).map_err(enc)?;
            let header = Header {
                workflow,
                fingerprint,
                step,
                ctx,
            };
            postcard::to_extend(&header, out).map_err(enc)?
        } else {
            let out = postcard::to_extend(&2u16, Vec::with_capacity(64)).map_err(enc)?;
            let header = HeaderV2 {
                workflow,
                version,
                fingerprint,
                step,
                ctx,
            };
            postcard::to_extend(&header, out).map_err(enc)?
        };
        postcard::to_extend(state, out).map_err(enc)
    }

    /// Decodes an envelope (the state stays encoded: see [`Snapshot::decode_state`]).
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let corrupt = |e: postcard::Error| SnapshotError::Corrupt(e.to_string());
        let (format, rest) = postcard::take_from_bytes::<u16>(bytes).map_err(corrupt)?;
        let (h, state) = match format {
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
                    state,
                )
            }
            2 => postcard::take_from_bytes::<HeaderV2<'_>>(rest).map_err(corrupt)?,
            3 => {
                let (mut h, rest) =
                    postcard::take_from_bytes::<HeaderV2<'_>>(rest).map_err(corrupt)?;
                let (at, state) = postcard::take_from_bytes::<u64>(rest).map_err(corrupt)?;
                h.ctx.cancelled_at = Some(at);
                (h, state)
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
            ctx: h.ctx,
            state: state.to_vec(),
        })
    }

    /// Encodes this envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = postcard::to_extend(&self.format, Vec::with_capacity(64 + self.state.len()))
            .unwrap_or_default();
        out = if self.format == 1 {
            let h = Header {
                workflow: &self.workflow,
                fingerprint: self.fingerprint,
                step: self.step,
                ctx: self.ctx,
            };
            postcard::to_extend(&h, out).unwrap_or_default()
        } else {
            let h = HeaderV2 {
                workflow: &self.workflow,
                version: self.version,
                fingerprint: self.fingerprint,
                step: self.step,
                ctx: self.ctx,
            };
            let out = postcard::to_extend(&h, out).unwrap_or_default();
            match (self.format, self.ctx.cancelled_at) {
                (3, at) => postcard::to_extend(&at.unwrap_or(0), out).unwrap_or_default(),
                _ => out,
            }
        };
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
            (s.format, s.workflow.as_str(), s.fingerprint, s.step, s.ctx),
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
        let bytes = Snapshot::encode("checkout", 0xabcd, 3, ctx, &7u8).expect("encode");
        let s = Snapshot::decode(&bytes).expect("decode");
        assert_eq!((s.format, s.version, s.ctx), (3, 1, ctx));
        assert_eq!(s.ctx.cancel_requested_at(), Some(1_700_000_000_500));
        assert_eq!(s.decode_state::<u8>().expect("state"), 7);
        assert_eq!(s.to_bytes(), bytes);
        // Without a request, the bytes are those of format 1, as before.
        let plain =
            Snapshot::encode("checkout", 0xabcd, 3, super::tests::ctx(), &7u8).expect("encode");
        assert_eq!(Snapshot::decode(&plain).expect("decode").format, 1);
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
