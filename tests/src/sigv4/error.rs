//! Why a request's signature is refused, with AWS's exception names and
//! messages.

use super::verify::{MAX_CLOCK_SKEW, format_amz_date, parse_amz_date};

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Authorization` header at all.
    #[error("request carries no authorization header")]
    MissingAuthentication,
    /// The header is there but not a complete SigV4 header.
    #[error("authorization header is incomplete")]
    Incomplete {
        /// AWS's explanation, returned to the client.
        detail: String,
    },
    /// The credential scope names another service, region or day.
    #[error("credential scope is wrong")]
    WrongScope {
        /// AWS's explanation, returned to the client.
        detail: String,
    },
    /// `X-Amz-Date` is more than 15 minutes before the server's clock.
    #[error("signature expired")]
    SignatureExpired {
        /// The request's `X-Amz-Date`.
        signed_at: String,
        /// The server's clock, in the same format.
        now: String,
    },
    /// `X-Amz-Date` is more than 15 minutes after the server's clock.
    #[error("signature not yet current")]
    SignatureNotYetCurrent {
        /// The request's `X-Amz-Date`.
        signed_at: String,
        /// The server's clock, in the same format.
        now: String,
    },
    /// The access key id was never issued.
    #[error("access key {access_key_id} is unknown")]
    UnknownAccessKey {
        /// The key id the request named.
        access_key_id: String,
    },
    /// The session token is missing, or not the one issued with the key.
    #[error("session token does not belong to access key {access_key_id}")]
    BadSessionToken {
        /// The key id the request named.
        access_key_id: String,
    },
    /// The temporary credentials have expired.
    #[error("credentials for access key {access_key_id} have expired")]
    ExpiredToken {
        /// The key id the request named.
        access_key_id: String,
    },
    /// The recomputed signature differs from the one sent.
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// The error as AWS returns it: `__type`, `message` and HTTP status.
    pub fn aws_error(&self) -> (&'static str, String, u16) {
        match self {
            Self::MissingAuthentication => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".to_owned(),
                403,
            ),
            Self::Incomplete { detail } => ("IncompleteSignatureException", detail.clone(), 403),
            Self::WrongScope { detail } => ("InvalidSignatureException", detail.clone(), 403),
            Self::SignatureExpired { signed_at, now } => (
                "InvalidSignatureException",
                format!(
                    "Signature expired: {signed_at} is now earlier than {} ({now} - 15 min.)",
                    shift(now, -1)
                ),
                403,
            ),
            Self::SignatureNotYetCurrent { signed_at, now } => (
                "InvalidSignatureException",
                format!(
                    "Signature not yet current: {signed_at} is still later than {} ({now} + 15 min.)",
                    shift(now, 1)
                ),
                403,
            ),
            Self::UnknownAccessKey { .. } | Self::BadSessionToken { .. } => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".to_owned(),
                403,
            ),
            Self::ExpiredToken { .. } => (
                "ExpiredTokenException",
                "The security token included in the request is expired".to_owned(),
                403,
            ),
            Self::Mismatch => (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. \
                 Consult the service documentation for details."
                    .to_owned(),
                403,
            ),
        }
    }
}

/// `now` (an `X-Amz-Date` string) moved by 15 minutes in `direction`.
pub(super) fn shift(now: &str, direction: i32) -> String {
    parse_amz_date(now)
        .map(|t| {
            let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
            format_amz_date(if direction < 0 { t - skew } else { t + skew })
        })
        .unwrap_or_default()
}
