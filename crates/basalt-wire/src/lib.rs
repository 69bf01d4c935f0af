//! basalt-wire: the AWS protocol as Bedrock speaks it, and nothing about models.
//!
//! It owns AWS error shapes ([`error`]: `x-amzn-ErrorType` names, statuses, rest-json bodies),
//! `application/vnd.amazon.eventstream` framing ([`eventstream`]) and SigV4 verification
//! ([`sigv4`]), with S3's signed `aws-chunked` bodies ([`aws_chunked`]) and the
//! XML request bodies of the S3 subset basalt serves ([`s3_bodies`]). It must not depend on axum or on any domain crate: the server adapts these to
//! its framework, the domain maps its errors onto [`AwsError`].

pub mod aws_chunked;
pub mod error;
pub mod eventstream;
pub mod s3_bodies;
pub mod sigv4;

pub use error::{AwsError, AwsErrorCode};
pub use eventstream::{chunk_payload, error_frame, event_frame, exception_frame};
pub use sigv4::{AuthError, SignatureForm, SignedRequest};
