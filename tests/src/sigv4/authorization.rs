//! The `Authorization` header of a SigV4-signed request.

use super::error::SignatureError;
use super::verify::ALGORITHM;

/// The parts of `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug)]
pub(super) struct Authorization {
    pub(super) access_key_id: String,
    /// `date/region/service/aws4_request`, split.
    pub(super) scope: Vec<String>,
    pub(super) signed_headers: Vec<String>,
    pub(super) signature: String,
}

impl Authorization {
    pub(super) fn parse(value: &http::HeaderValue) -> Result<Self, SignatureError> {
        let incomplete = |detail: String| SignatureError::Incomplete { detail };
        let value = value
            .to_str()
            .map_err(|_| incomplete("Authorization header is not valid ASCII.".to_owned()))?;
        let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
        if algorithm != ALGORITHM {
            return Err(incomplete(format!(
                "Unsupported AWS 'algorithm': '{algorithm}'."
            )));
        }
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let mut missing = String::new();
        for (name, part) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if part.is_none_or(str::is_empty) {
                missing.push_str(&format!(
                    "Authorization header requires '{name}' parameter. "
                ));
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(incomplete(missing.trim_end().to_owned()));
        };
        if !missing.is_empty() {
            return Err(incomplete(missing.trim_end().to_owned()));
        }
        let mut parts = credential.split('/').map(str::to_owned);
        let access_key_id = parts.next().unwrap_or_default();
        let scope: Vec<String> = parts.collect();
        if scope.len() != 4 || access_key_id.is_empty() {
            return Err(incomplete(format!(
                "Credential should have 5 '/'-separated parts, not {}: '{credential}'.",
                scope.len() + 1
            )));
        }
        let signed_headers: Vec<String> = signed_headers
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        if !signed_headers.iter().any(|h| h == "host") {
            return Err(incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
                    .to_owned(),
            ));
        }
        Ok(Self {
            access_key_id,
            scope,
            signed_headers,
            signature: signature.to_owned(),
        })
    }

    pub(super) fn check_scope(
        &self,
        amz_date: &str,
        service: &str,
        region: &str,
    ) -> Result<(), SignatureError> {
        let wrong = |detail: String| Err(SignatureError::WrongScope { detail });
        let [date, scope_region, scope_service, terminator] = self.scope.as_slice() else {
            unreachable!("parse keeps exactly four scope parts");
        };
        if terminator != "aws4_request" {
            return wrong(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not \
                 '{terminator}'."
            ));
        }
        if !amz_date.starts_with(date.as_str()) {
            return wrong(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{date}' != '{}', from 'x-amz-date'.",
                amz_date.get(..8).unwrap_or(amz_date)
            ));
        }
        if scope_region != region {
            return wrong(format!(
                "Credential should be scoped to a valid region, not '{scope_region}'."
            ));
        }
        if scope_service != service {
            return wrong(format!(
                "Credential should be scoped to correct service: '{service}'."
            ));
        }
        Ok(())
    }
}
