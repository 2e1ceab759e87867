//! IAM as STS consults it for `AssumeRoleWithWebIdentity`: OIDC identity providers and role trust
//! policies, for [`StsBuilder::iam`](crate::StsBuilder::iam).
//!
//! With an [`Iam`] attached, the STS emulator decides as AWS does:
//!
//! 1. the role must exist (`AccessDenied` otherwise: STS does not say which part failed);
//! 2. the token's `iss` must be the URL of an OIDC provider of the role's account
//!    (`InvalidIdentityToken: No OpenIDConnect provider found in your account for <iss>`);
//! 3. the token's key set is fetched from `<iss>/.well-known/jwks` and its signature checked;
//! 4. one of the token's `aud` values must be in the provider's client-id list
//!    (`InvalidIdentityToken: Incorrect token audience`);
//! 5. the role's trust policy must allow it: a statement with `"Effect": "Allow"`, the provider's
//!    ARN (`arn:aws:iam::<account>:oidc-provider/<issuer without scheme>`) as its `Federated`
//!    principal, `sts:AssumeRoleWithWebIdentity` among its actions, and every condition true;
//!    no `Deny` statement may match (`AccessDenied` otherwise).
//!
//! Conditions see the keys `<issuer without scheme>:aud` (the token's audience values) and
//! `<issuer without scheme>:sub`. Operators: `StringEquals`, `StringNotEquals`, `StringLike`,
//! `StringNotLike`, `StringEqualsIgnoreCase`, each also with the `ForAnyValue:` and
//! `ForAllValues:` set qualifiers. A condition's values are alternatives (any may match); its keys
//! and operators must all hold. An unknown operator never matches.
//!
//! The evaluation is this emulator's own code: it shares nothing with the code that prints a
//! trust policy (`vercel-oidc trust aws`), so a misreading on one side cannot cancel out.

use std::collections::HashMap;

use serde_json::Value;

/// IAM's view for the STS emulator: OIDC providers per account and roles with trust policies.
#[derive(Debug, Clone, Default)]
pub struct Iam {
    providers: Vec<OidcProvider>,
    roles: HashMap<String, Value>,
}

#[derive(Debug, Clone)]
struct OidcProvider {
    account: String,
    url: String,
    client_ids: Vec<String>,
}

/// Why IAM refused a web identity (mapped to STS's error by the emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such role, or its trust policy does not allow this token.
    AccessDenied,
    /// No OIDC provider for the token's issuer in the role's account.
    NoProvider(String),
    /// The token's audience is not a client id of the provider.
    Audience,
}

impl Iam {
    /// An IAM with no providers and no roles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an IAM OIDC identity provider in `account` for the issuer `url` (exactly the
    /// token's `iss`, e.g. `https://oidc.vercel.com/acme`), with its audience (client id) list.
    pub fn oidc_provider<I, S>(mut self, account: &str, url: &str, client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.providers.push(OidcProvider {
            account: account.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            client_ids: client_ids.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Registers the role `role_arn` with its trust policy document (JSON text).
    ///
    /// # Errors
    /// If `trust_policy` is not a JSON object.
    pub fn role(mut self, role_arn: &str, trust_policy: &str) -> Result<Self, serde_json::Error> {
        let policy: Value = serde_json::from_str(trust_policy)?;
        if !policy.is_object() {
            return Err(serde::de::Error::custom("a trust policy is a JSON object"));
        }
        self.roles.insert(role_arn.to_owned(), policy);
        Ok(self)
    }

    /// The OIDC provider ARN IAM gives a provider for `url` in `account`.
    pub fn provider_arn(account: &str, url: &str) -> String {
        format!(
            "arn:aws:iam::{account}:oidc-provider/{}",
            without_scheme(url.trim_end_matches('/'))
        )
    }

    /// Step 1–2: the role exists and `iss` has a provider in its account; returns the issuer URL
    /// whose key set must verify the token.
    pub(crate) fn provider_for(
        &self,
        role_arn: &str,
        account: &str,
        iss: &str,
    ) -> Result<String, Refusal> {
        if !self.roles.contains_key(role_arn) {
            return Err(Refusal::AccessDenied);
        }
        self.providers
            .iter()
            .find(|p| p.account == account && p.url == iss)
            .map(|p| p.url.clone())
            .ok_or_else(|| Refusal::NoProvider(iss.to_owned()))
    }

    /// Steps 4–5, for a token whose signature has been verified.
    pub(crate) fn authorize(
        &self,
        role_arn: &str,
        account: &str,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<(), Refusal> {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let provider = self
            .providers
            .iter()
            .find(|p| p.account == account && p.url == iss)
            .ok_or_else(|| Refusal::NoProvider(iss.to_owned()))?;
        let audiences: Vec<String> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if !audiences.iter().any(|a| provider.client_ids.contains(a)) {
            return Err(Refusal::Audience);
        }
        let policy = self.roles.get(role_arn).ok_or(Refusal::AccessDenied)?;
        let prefix = without_scheme(&provider.url);
        let mut context: HashMap<String, Vec<String>> = HashMap::new();
        context.insert(format!("{prefix}:aud"), audiences);
        if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
            context.insert(format!("{prefix}:sub"), vec![sub.to_owned()]);
        }
        let principal = Self::provider_arn(account, &provider.url);
        let statements: Vec<&Value> = match policy.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => Vec::new(),
        };
        let matching = |effect: &str| {
            statements.iter().any(|s| {
                s.get("Effect").and_then(Value::as_str) == Some(effect)
                    && statement_applies(s, &principal, &context)
            })
        };
        let denied = matching("Deny");
        let allowed = matching("Allow");
        if allowed && !denied {
            Ok(())
        } else {
            Err(Refusal::AccessDenied)
        }
    }
}

fn without_scheme(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

/// A string or a list of strings, as IAM accepts in most places.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statement_applies(
    statement: &Value,
    principal: &str,
    context: &HashMap<String, Vec<String>>,
) -> bool {
    let federated = strings(statement.get("Principal").and_then(|p| p.get("Federated")));
    if !federated.contains(&principal) {
        return false;
    }
    let actions = strings(statement.get("Action"));
    let action_ok = actions.iter().any(|a| {
        a.eq_ignore_ascii_case("sts:AssumeRoleWithWebIdentity")
            || a.eq_ignore_ascii_case("sts:*")
            || *a == "*"
    });
    if !action_ok {
        return false;
    }
    match statement.get("Condition") {
        None => true,
        Some(Value::Object(operators)) => operators.iter().all(|(operator, keys)| {
            let Value::Object(keys) = keys else {
                return false;
            };
            keys.iter().all(|(key, wanted)| {
                let wanted = strings(Some(wanted));
                // Condition keys are case-insensitive in IAM.
                let actual = context
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.as_slice())
                    .unwrap_or(&[]);
                condition_holds(operator, actual, &wanted)
            })
        }),
        Some(_) => false,
    }
}

fn condition_holds(operator: &str, actual: &[String], wanted: &[&str]) -> bool {
    let (qualifier, base) = match operator.split_once(':') {
        Some((q, b)) => (Some(q), b),
        None => (None, operator),
    };
    let (negated, matches): (bool, fn(&str, &str) -> bool) = match base {
        "StringEquals" => (false, |a, w| a == w),
        "StringNotEquals" => (true, |a, w| a == w),
        "StringEqualsIgnoreCase" => (false, |a, w| a.eq_ignore_ascii_case(w)),
        "StringLike" => (false, glob),
        "StringNotLike" => (true, glob),
        _ => return false,
    };
    let any_wanted = |a: &String| wanted.iter().any(|w| matches(a, w));
    match qualifier {
        Some("ForAnyValue") => {
            let hit = actual.iter().any(any_wanted);
            if negated { !hit } else { hit }
        }
        Some("ForAllValues") => {
            if negated {
                actual.iter().all(|a| !any_wanted(a))
            } else {
                actual.iter().all(any_wanted)
            }
        }
        Some(_) => false,
        // A single-valued key: a missing key fails a positive operator and passes a negated one.
        None => match actual {
            [] => negated,
            values => {
                let hit = values.iter().any(any_wanted);
                if negated { !hit } else { hit }
            }
        },
    }
}

/// IAM's `StringLike`: `*` matches any run of characters (also empty), `?` any one character.
fn glob(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/app";
    const ISS: &str = "https://oidc.vercel.com/acme";

    fn iam(policy: Value) -> Iam {
        Iam::new()
            .oidc_provider("123456789012", ISS, ["https://vercel.com/acme"])
            .role(ROLE, &policy.to_string())
            .expect("policy")
    }

    fn policy(condition: Value) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com/acme"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }]
        })
    }

    fn claims(aud: &str, sub: &str) -> serde_json::Map<String, Value> {
        json!({"iss": ISS, "aud": aud, "sub": sub})
            .as_object()
            .cloned()
            .expect("object")
    }

    const SUB: &str = "owner:acme:project:web:environment:production";

    #[test]
    fn string_equals_and_like_on_aud_and_sub() {
        let iam = iam(policy(json!({
            "StringEquals": {"oidc.vercel.com/acme:aud": "https://vercel.com/acme"},
            "StringLike": {"oidc.vercel.com/acme:sub": "owner:acme:project:web:environment:*"},
        })));
        let acct = "123456789012";
        assert_eq!(
            iam.authorize(ROLE, acct, &claims("https://vercel.com/acme", SUB)),
            Ok(())
        );
        assert_eq!(
            iam.authorize(
                ROLE,
                acct,
                &claims(
                    "https://vercel.com/acme",
                    "owner:acme:project:api:environment:production"
                )
            ),
            Err(Refusal::AccessDenied)
        );
        assert_eq!(
            iam.authorize(ROLE, acct, &claims("https://vercel.com/other", SUB)),
            Err(Refusal::Audience)
        );
        assert_eq!(
            iam.provider_for("arn:aws:iam::123456789012:role/other", acct, ISS),
            Err(Refusal::AccessDenied)
        );
        assert_eq!(
            iam.provider_for(ROLE, acct, "https://oidc.vercel.com"),
            Err(Refusal::NoProvider("https://oidc.vercel.com".into()))
        );
        assert_eq!(iam.provider_for(ROLE, acct, ISS), Ok(ISS.to_owned()));
    }

    #[test]
    fn deny_wins_and_principal_and_action_must_match() {
        let mut p = policy(json!({}));
        p["Statement"]
            .as_array_mut()
            .expect("list")
            .push(json!({
                "Effect": "Deny",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com/acme"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"oidc.vercel.com/acme:sub": "*:environment:preview"}},
            }));
        let iam = iam(p);
        let acct = "123456789012";
        assert!(
            iam.authorize(ROLE, acct, &claims("https://vercel.com/acme", SUB))
                .is_ok()
        );
        assert_eq!(
            iam.authorize(
                ROLE,
                acct,
                &claims(
                    "https://vercel.com/acme",
                    "owner:acme:project:web:environment:preview"
                )
            ),
            Err(Refusal::AccessDenied)
        );

        let mut wrong_principal = policy(json!({}));
        wrong_principal["Statement"][0]["Principal"]["Federated"] =
            json!("arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com");
        assert_eq!(
            self::iam(wrong_principal).authorize(
                ROLE,
                acct,
                &claims("https://vercel.com/acme", SUB)
            ),
            Err(Refusal::AccessDenied)
        );
        let mut wrong_action = policy(json!({}));
        wrong_action["Statement"][0]["Action"] = json!("sts:AssumeRole");
        assert_eq!(
            self::iam(wrong_action).authorize(ROLE, acct, &claims("https://vercel.com/acme", SUB)),
            Err(Refusal::AccessDenied)
        );
    }

    #[test]
    fn set_qualifiers_and_missing_keys() {
        assert!(condition_holds(
            "ForAnyValue:StringEquals",
            &["a".into(), "b".into()],
            &["b"]
        ));
        assert!(!condition_holds(
            "ForAllValues:StringEquals",
            &["a".into(), "b".into()],
            &["b"]
        ));
        assert!(!condition_holds("StringEquals", &[], &["x"]));
        assert!(condition_holds("StringNotEquals", &[], &["x"]));
        assert!(!condition_holds("NumericEquals", &["1".into()], &["1"]));
        assert!(condition_holds(
            "StringEqualsIgnoreCase",
            &["AbC".into()],
            &["abc"]
        ));
    }

    #[test]
    fn glob_matches_as_iam_does() {
        assert!(glob("owner:acme:project:web", "owner:acme:*"));
        assert!(glob("abc", "a?c"));
        assert!(glob("", "*"));
        assert!(!glob("abc", "a?"));
        assert!(glob("a:b:c", "*:b:*"));
        assert!(!glob("a:b", "*:c*"));
        assert!(glob("aaa", "a*a*a"));
    }
}
