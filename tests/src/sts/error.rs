//! STS errors in the Query protocol's XML shape, with real STS's codes,
//! words and statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quick_xml::escape::partial_escape as escape;

use super::xml_response;

/// Who is at fault, STS's `<Type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Sender,
    Receiver,
}

/// An error STS answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StsError {
    status: StatusCode,
    fault: Fault,
    code: &'static str,
    message: String,
}

impl StsError {
    fn sender(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            fault: Fault::Sender,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn access_denied() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    }

    /// AssumeRole's refusal, naming the caller, the action and the role.
    pub(crate) fn access_denied_to(caller: &str, action: &str, role_arn: &str) -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {caller} is not authorized to perform: {action} on resource: {role_arn}"
            ),
        )
    }

    pub(crate) fn invalid_identity_token(message: impl Into<String>) -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "InvalidIdentityToken", message)
    }

    pub(crate) fn expired_token(now: u64, exp: u64) -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            format!(
                "Token expired: current date/time {now} must be before the expiration date/time {exp}"
            ),
        )
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "ValidationError", message)
    }

    pub(crate) fn idp_communication() -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "IDPCommunicationError",
            "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached.",
        )
    }

    pub(crate) fn malformed_policy() -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "MalformedPolicyDocument",
            "The policy is not in the valid JSON format.",
        )
    }

    pub(crate) fn throttling() -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
    }

    pub(crate) fn missing_action() -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "MissingAction", "Missing Action")
    }

    pub(crate) fn invalid_action(action: &str, version: &str) -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        )
    }

    pub(crate) fn malformed_query() -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "MalformedQueryString",
            "The query string or form body is not valid application/x-www-form-urlencoded",
        )
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        Self::sender(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request body must be at most {limit} bytes"),
        )
    }

    pub(crate) fn missing_authentication() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    }

    pub(crate) fn invalid_client_token() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }

    pub(crate) fn expired_client_token() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The security token included in the request is expired",
        )
    }

    /// A signature STS cannot accept (`code` is STS's name for the problem).
    pub(crate) fn signature(code: &'static str, message: String) -> Self {
        Self::sender(StatusCode::FORBIDDEN, code, message)
    }

    /// A server-side failure a test injected: 503 reads as
    /// `ServiceUnavailable`, anything else as `InternalFailure`.
    pub(crate) fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
            ("ServiceUnavailable", "Service is unable to handle request.")
        } else {
            ("InternalFailure", "An internal error has occurred.")
        };
        Self {
            status,
            fault: Fault::Receiver,
            code,
            message: message.into(),
        }
    }

    /// The error code, as in `<Code>`.
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn into_response_with_id(self, request_id: &str) -> Response {
        let fault = match self.fault {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        };
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{fault}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            self.code,
            escape(self.message.as_str()),
            escape(request_id),
        );
        xml_response(self.status, request_id, body).into_response()
    }
}
