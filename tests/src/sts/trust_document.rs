//! Trust policies as IAM writes them: JSON documents read into [`Role`]s,
//! and roles written back out, so a test can use exactly the policy a user
//! would paste into IAM.

use serde_json::{Map, Value, json};

use super::trust::{
    AwsTrust, Condition, Federated, Operator, Role, TrustPolicy, provider_arn, provider_host,
};
use crate::Error;

const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

impl Role {
    /// Reads an IAM trust policy document (or one bare statement) for the
    /// role `name`. Statements that do not allow
    /// `sts:AssumeRoleWithWebIdentity` are skipped; `Deny`, other principals
    /// and operators other than `StringEquals`/`StringLike` are refused.
    pub fn from_trust_document(name: &str, document: &str) -> Result<Role, Error> {
        let document: Value =
            serde_json::from_str(document).map_err(|source| Error::TrustDocumentJson {
                role: name.to_owned(),
                source,
            })?;
        let reader = Reader { role: name };
        let statements = match document.get("Statement") {
            Some(Value::Array(statements)) => statements.iter().collect(),
            Some(statement @ Value::Object(_)) => vec![statement],
            Some(_) => return Err(reader.invalid("Statement", "must be an object or an array")),
            None if document.get("Effect").is_some() => vec![&document],
            None => return Err(reader.invalid("Statement", "is missing")),
        };
        let mut trust = Vec::new();
        let mut aws_trust = Vec::new();
        for (i, statement) in statements.into_iter().enumerate() {
            let at = format!("Statement[{i}]");
            match reader.aws_statement(&at, statement)? {
                Some(aws) => aws_trust.push(aws),
                None => trust.extend(reader.statement(&at, statement)?),
            }
        }
        if trust.is_empty() && aws_trust.is_empty() {
            return Err(reader.invalid(
                "Statement",
                "no statement allows sts:AssumeRoleWithWebIdentity or sts:AssumeRole",
            ));
        }
        let mut role = match aws_trust.pop() {
            Some(aws) => Role::assumable_by(name, aws),
            None => Role::new(name, trust.remove(0)),
        };
        role.aws_trust.extend(aws_trust);
        role.trust.extend(trust);
        Ok(role)
    }

    /// The role's trust policy as an IAM document, with the sandbox's issuer
    /// spelled out (`sandbox_issuer`) where a statement trusts it.
    pub fn trust_document(&self, account_id: &str, sandbox_issuer: &str) -> Value {
        let statements: Vec<Value> = self
            .trust
            .iter()
            .map(|statement| statement.to_statement(account_id, sandbox_issuer))
            .chain(self.aws_trust.iter().map(AwsTrust::to_statement))
            .collect();
        json!({ "Version": "2012-10-17", "Statement": statements })
    }
}

impl TrustPolicy {
    /// This statement as IAM writes it. Two conditions with the same
    /// operator and claim cannot both be written; the later one wins.
    pub fn to_statement(&self, account_id: &str, sandbox_issuer: &str) -> Value {
        let issuer = match &self.federated {
            Federated::SandboxIssuer => sandbox_issuer,
            Federated::Issuer(issuer) => issuer.as_str(),
        };
        let host = provider_host(issuer);
        let mut conditions = Map::new();
        for condition in &self.conditions {
            let operator = match condition.operator {
                Operator::StringEquals => "StringEquals",
                Operator::StringLike => "StringLike",
            };
            let values = match condition.values.as_slice() {
                [one] => Value::from(one.as_str()),
                many => Value::from(many.to_vec()),
            };
            let block = conditions
                .entry(operator)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(block) = block {
                block.insert(format!("{host}:{}", condition.claim), values);
            }
        }
        json!({
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn(account_id, issuer) },
            "Action": WEB_IDENTITY,
            "Condition": conditions,
        })
    }
}

impl AwsTrust {
    /// This statement as IAM writes it.
    pub fn to_statement(&self) -> Value {
        let mut statement = json!({
            "Effect": "Allow",
            "Principal": { "AWS": self.principals },
            "Action": self.actions,
        });
        if let Some(id) = &self.external_id {
            statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
        }
        statement
    }
}

struct Reader<'a> {
    role: &'a str,
}

impl Reader<'_> {
    fn invalid(&self, field: &str, reason: &'static str) -> Error {
        Error::TrustDocument {
            role: self.role.to_owned(),
            field: field.to_owned(),
            reason,
        }
    }

    /// A statement for AWS principals (`Principal.AWS`), or `None` for
    /// any other kind.
    fn aws_statement(&self, at: &str, statement: &Value) -> Result<Option<AwsTrust>, Error> {
        let Some(principals) = statement.get("Principal").and_then(|p| p.get("AWS")) else {
            return Ok(None);
        };
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            return Err(self.invalid(&format!("{at}.Effect"), "only Allow is supported"));
        }
        let principals = self.strings(&format!("{at}.Principal.AWS"), Some(principals))?;
        let actions = self.strings(&format!("{at}.Action"), statement.get("Action"))?;
        let external_id = match statement.get("Condition") {
            None => None,
            Some(condition) => {
                let at = format!("{at}.Condition");
                let Some(Value::Object(block)) = condition.get("StringEquals") else {
                    return Err(
                        self.invalid(&at, "only StringEquals on sts:ExternalId is supported")
                    );
                };
                if condition.as_object().is_some_and(|c| c.len() != 1)
                    || block.keys().any(|k| k != "sts:ExternalId")
                {
                    return Err(
                        self.invalid(&at, "only StringEquals on sts:ExternalId is supported")
                    );
                }
                let ids = self.strings(
                    &format!("{at}.StringEquals.sts:ExternalId"),
                    block.get("sts:ExternalId"),
                )?;
                ids.into_iter().next()
            }
        };
        Ok(Some(AwsTrust {
            principals,
            actions,
            external_id,
        }))
    }

    /// One trust statement per federated provider the statement names.
    fn statement(&self, at: &str, statement: &Value) -> Result<Vec<TrustPolicy>, Error> {
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Allow") => {}
            Some(_) => return Err(self.invalid(&format!("{at}.Effect"), "only Allow is supported")),
            None => return Err(self.invalid(&format!("{at}.Effect"), "is missing")),
        }
        let actions = self.strings(&format!("{at}.Action"), statement.get("Action"))?;
        if !actions
            .iter()
            .any(|a| a == WEB_IDENTITY || a == "sts:*" || a == "*")
        {
            return Ok(Vec::new());
        }
        let federated_at = format!("{at}.Principal.Federated");
        let providers = self.strings(
            &federated_at,
            statement.get("Principal").and_then(|p| p.get("Federated")),
        )?;
        let mut trust = Vec::new();
        for arn in providers {
            let host = arn
                .strip_prefix("arn:aws:iam::")
                .and_then(|rest| rest.split_once(":oidc-provider/"))
                .map(|(_, host)| host.to_owned())
                .ok_or_else(|| self.invalid(&federated_at, "must be an oidc-provider ARN"))?;
            let conditions = self.conditions(at, &host, statement.get("Condition"))?;
            trust.push(TrustPolicy {
                federated: Federated::Issuer(host),
                conditions,
            });
        }
        Ok(trust)
    }

    fn conditions(
        &self,
        at: &str,
        host: &str,
        block: Option<&Value>,
    ) -> Result<Vec<Condition>, Error> {
        let Some(block) = block else {
            return Ok(Vec::new());
        };
        let Value::Object(block) = block else {
            return Err(self.invalid(&format!("{at}.Condition"), "must be an object"));
        };
        let mut conditions = Vec::new();
        for (operator, keys) in block {
            let op_at = format!("{at}.Condition.{operator}");
            let operator = match operator.as_str() {
                "StringEquals" => Operator::StringEquals,
                "StringLike" => Operator::StringLike,
                _ => return Err(self.invalid(&op_at, "unsupported condition operator")),
            };
            let Value::Object(keys) = keys else {
                return Err(self.invalid(&op_at, "must be an object"));
            };
            for (key, values) in keys {
                let values = self.strings(&format!("{op_at}.{key}"), Some(values))?;
                // A key for another provider names a claim this token cannot
                // carry, so (as in IAM) the condition simply fails.
                let claim = key
                    .strip_prefix(host)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .unwrap_or(key);
                conditions.push(Condition {
                    operator,
                    claim: claim.to_owned(),
                    values,
                });
            }
        }
        Ok(conditions)
    }

    /// A string or an array of strings, as IAM allows almost everywhere.
    fn strings(&self, at: &str, value: Option<&Value>) -> Result<Vec<String>, Error> {
        match value {
            Some(Value::String(one)) => Ok(vec![one.clone()]),
            Some(Value::Array(many)) => many
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.invalid(at, "must hold only strings")),
            Some(_) => Err(self.invalid(at, "must be a string or an array of strings")),
            None => Err(self.invalid(at, "is missing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "http://127.0.0.1:4321";

    #[test]
    fn a_github_document_reads_into_conditions_on_its_claims() {
        let document = r#"{
          "Version": "2012-10-17",
          "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:4321"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
              "StringEquals": {"127.0.0.1:4321:aud": "sts.amazonaws.com"},
              "StringLike": {"127.0.0.1:4321:sub": ["repo:acme/shop:ref:refs/tags/v*", "repo:acme/shop:environment:prod"]}
            }
          }]
        }"#;
        let role = Role::from_trust_document("release", document).unwrap();
        let claims =
            json!({"aud": "sts.amazonaws.com", "sub": "repo:acme/shop:ref:refs/tags/v2.0.1"});
        assert!(role.admits(ISSUER, "http://elsewhere", &claims));
        let claims =
            json!({"aud": "sts.amazonaws.com", "sub": "repo:acme/shop:ref:refs/heads/main"});
        assert!(!role.admits(ISSUER, "http://elsewhere", &claims));
    }

    #[test]
    fn written_documents_read_back_the_same() {
        let role = Role::new(
            "deploy",
            TrustPolicy::github_like(&["repo:acme/*", "repo:acme@1/*"]),
        );
        let document = role.trust_document("123456789012", ISSUER);
        assert_eq!(
            document["Statement"][0]["Principal"]["Federated"],
            "arn:aws:iam::123456789012:oidc-provider/127.0.0.1:4321"
        );
        assert_eq!(
            document["Statement"][0]["Condition"]["StringEquals"]["127.0.0.1:4321:aud"],
            "sts.amazonaws.com"
        );
        let read = Role::from_trust_document("deploy", &document.to_string()).unwrap();
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "repo:acme@1/shop@2:ref:x"});
        assert!(read.admits(ISSUER, ISSUER, &claims));
        assert_eq!(read.trust[0].conditions, role.trust[0].conditions);
    }

    #[test]
    fn unsupported_parts_are_named() {
        let deny =
            r#"{"Statement": {"Effect": "Deny", "Action": "sts:AssumeRoleWithWebIdentity"}}"#;
        let error = Role::from_trust_document("r", deny)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "trust policy of role r: Statement[0].Effect: only Allow is supported"
        );

        let operator = r#"{"Effect": "Allow", "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/h"},
            "Condition": {"ForAnyValue:StringLike": {"h:sub": "x"}}}"#;
        let error = Role::from_trust_document("r", operator)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with(
                "Statement[0].Condition.ForAnyValue:StringLike: unsupported condition operator"
            ),
            "{error}"
        );

        let service = r#"{"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]}"#;
        let error = Role::from_trust_document("r", service)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("no statement allows sts:AssumeRoleWithWebIdentity or sts:AssumeRole"),
            "{error}"
        );

        assert!(matches!(
            Role::from_trust_document("r", "{not json"),
            Err(Error::TrustDocumentJson { .. })
        ));
    }
}
