//! `vercel-oidc token` and `vercel-oidc claims`.

use std::io::{IsTerminal, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use vercel_oidc::{
    AudienceExchange, Env, ExchangeRequest, OidcToken, TokenSource, VercelTokenSource,
};

use crate::{Failure, core_failure};

/// Arguments of `vercel-oidc token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// Exchange the token for one with this audience (POST {issuer}/~token).
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

/// `--project`/`--team`: what the token chain's last link, the local-dev refresh (a token minted
/// with the Vercel CLI's login), asks for. Every command that reads the token from the chain
/// takes them; they change nothing when the token comes from the environment or a file.
#[derive(Debug, Args)]
pub(crate) struct ChainArgs {
    /// Project id or name for the local-dev refresh (default: .vercel/project.json).
    #[arg(long, value_name = "PROJECT")]
    project: Option<String>,
    /// Team id or slug for the local-dev refresh (default: .vercel/project.json).
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
}

impl ChainArgs {
    /// The project given with `--project`.
    pub(crate) fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The team given with `--team`.
    pub(crate) fn team(&self) -> Option<&str> {
        self.team.as_deref()
    }

    /// The Vercel token chain reading `env`, with this project and team for its local-dev
    /// refresh.
    pub(crate) fn source(&self, env: &Env) -> VercelTokenSource {
        let mut builder = VercelTokenSource::builder().env(env.clone());
        if let Some(project) = &self.project {
            builder = builder.project(project.as_str());
        }
        if let Some(team) = &self.team {
            builder = builder.team(team.as_str());
        }
        builder.build()
    }
}

/// Arguments of `vercel-oidc claims`.
#[derive(Debug, Args)]
pub(crate) struct ClaimsArgs {
    /// The token; `-` reads it from stdin. When omitted: piped stdin, else the token chain.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

/// Where a command that inspects a token gets it: `--token -` (stdin), `--token T`, or the
/// token chain with optional `--project`/`--team` for the local-dev refresh.
#[derive(Debug, Args)]
pub(crate) struct TokenInput {
    /// The token; `-` reads it from stdin (recommended over an argument, which other users
    /// can see in /proc). Default: the token chain.
    #[arg(long, value_name = "TOKEN|-")]
    token: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

impl TokenInput {
    /// Whether the token was given (argument or stdin) rather than read through the chain.
    pub(crate) fn is_explicit(&self) -> bool {
        self.token.is_some()
    }
}

/// The token a [`TokenInput`] names.
pub(crate) async fn token_from_input(input: &TokenInput, env: &Env) -> Result<OidcToken, Failure> {
    match input.token.as_deref() {
        Some("-") => OidcToken::parse(read_token_from_stdin()?.trim().to_owned())
            .map_err(|e| Failure::failed(&e)),
        Some(token) => OidcToken::parse(token.trim().to_owned()).map_err(|e| Failure::failed(&e)),
        None => chain_token(env, &input.chain, None).await,
    }
}

/// The token from the Vercel chain, optionally exchanged for `audience`.
pub(crate) async fn chain_token(
    env: &Env,
    chain: &ChainArgs,
    audience: Option<&str>,
) -> Result<OidcToken, Failure> {
    let token = chain
        .source(env)
        .token()
        .await
        .map_err(|e| core_failure(&e))?;
    match audience {
        None => Ok(token),
        Some(audience) => {
            let exchange = AudienceExchange::builder()
                .env(env.clone())
                .build()
                .map_err(|e| core_failure(&e))?;
            exchange
                .exchange(&token, &ExchangeRequest::new(audience))
                .await
                .map_err(|e| core_failure(&e))
        }
    }
}

pub(crate) async fn token(args: TokenArgs, env: &Env) -> Result<(), Failure> {
    let token = chain_token(env, &args.chain, args.audience.as_deref()).await?;
    // The command's output is the token itself.
    println!("{}", token.expose_secret());
    Ok(())
}

pub(crate) async fn claims(args: ClaimsArgs, env: &Env) -> Result<(), Failure> {
    let raw = match args.token.as_deref() {
        Some("-") => Some(read_token_from_stdin()?),
        Some(token) => Some(token.to_owned()),
        None if !std::io::stdin().is_terminal() => {
            Some(read_token_from_stdin()?).filter(|t| !t.trim().is_empty())
        }
        None => None,
    };
    let token = match raw {
        Some(raw) => OidcToken::parse(raw).map_err(|e| Failure::failed(&e))?,
        None => chain_token(env, &args.chain, None).await?,
    };
    let (json, expiry) = render_claims(&token, SystemTime::now())?;
    println!("{json}");
    eprintln!("{expiry}");
    Ok(())
}

/// What `claims` prints: the claims as pretty JSON (stdout) and the expiry line (stderr).
fn render_claims(token: &OidcToken, now: SystemTime) -> Result<(String, String), Failure> {
    let json = serde_json::to_string_pretty(token.unverified_claims())
        .map_err(|e| Failure::message(format!("cannot print the claims: {e}")))?;
    Ok((json, describe_expiry(token.expires_at(), now)))
}

/// Reads a token from stdin (the recommended way to pass one: argv is visible in `/proc` and
/// shell history), refusing more than a token's maximum size (plus surrounding whitespace).
pub(crate) fn read_token_from_stdin() -> Result<String, Failure> {
    read_token(std::io::stdin().lock())
}

/// The most bytes `read_token` accepts: a token's maximum length plus room for whitespace.
const STDIN_TOKEN_MAX: usize = vercel_oidc::MAX_TOKEN_LEN + 1024;

fn read_token(input: impl Read) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    input
        .take(STDIN_TOKEN_MAX as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::message(format!("cannot read the token from stdin: {e}")))?;
    if bytes.len() > STDIN_TOKEN_MAX {
        return Err(Failure::message(format!(
            "the token on stdin is longer than {STDIN_TOKEN_MAX} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|_| Failure::message("the token on stdin is not UTF-8 text"))
}

/// "expires 2026-11-24T22:00:00Z (in 59m 30s)" / "expired … (3m ago)" / "no exp claim".
pub(crate) fn describe_expiry(expires_at: Option<SystemTime>, now: SystemTime) -> String {
    let Some(exp) = expires_at else {
        return "no exp claim: treated as expired".to_owned();
    };
    let when = rfc3339(exp);
    match exp.duration_since(now) {
        Ok(left) => format!("expires {when} (in {})", human(left)),
        Err(past) => format!("expired {when} ({} ago)", human(past.duration())),
    }
}

/// RFC 3339 in UTC to the second, or "(out of range)" for a time RFC 3339 cannot show (before
/// year 0 or after 9999: a token's `exp` is attacker-chosen and may be anything).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).ok(),
        Err(before) => i64::try_from(before.duration().as_secs()).ok().map(|s| -s),
    };
    secs.and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "(out of range)".to_owned())
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    #[test]
    fn expiry_in_human_form() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_550_000);
        let at = |d: i64| {
            if d >= 0 {
                now + Duration::from_secs(d as u64)
            } else {
                now - Duration::from_secs((-d) as u64)
            }
        };
        assert_eq!(
            describe_expiry(Some(at(3570)), now),
            "expires 2026-11-24T20:52:50Z (in 59m 30s)"
        );
        assert_eq!(
            describe_expiry(Some(at(-180)), now),
            "expired 2026-11-24T19:50:20Z (3m 0s ago)"
        );
        assert_eq!(
            describe_expiry(Some(at(45)), now).split(" (").nth(1),
            Some("in 45s)")
        );
        assert_eq!(
            describe_expiry(Some(at(2 * 86_400 + 7200)), now)
                .split(" (")
                .nth(1),
            Some("in 2d 2h)")
        );
        assert_eq!(
            describe_expiry(None, now),
            "no exp claim: treated as expired"
        );
    }

    /// An unsigned token whose payload is `{"exp": <exp>}` (the text is put in as is).
    fn token_with_exp(exp: &str) -> OidcToken {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let raw = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(&format!(r#"{{"exp":{exp},"sub":"s"}}"#)),
            b64("sig")
        );
        OidcToken::parse(raw).expect("a token whose exp is a JSON number")
    }

    #[test]
    fn out_of_range_expiry_is_said_not_panicked() {
        let now = SystemTime::now();
        for exp in [
            "253402300800",
            "253402300799",
            "1e300",
            "-1e300",
            &i64::MIN.to_string(),
            &i64::MAX.to_string(),
            &u64::MAX.to_string(),
            "-62167219201",
        ] {
            let (json, expiry) = render_claims(&token_with_exp(exp), now).expect(exp);
            assert!(json.contains("\"exp\""), "{exp}: {json}");
            assert!(expiry.starts_with("expire"), "{exp}: {expiry}");
        }
        let (_, far) = render_claims(&token_with_exp("253402300800"), now).expect("far");
        assert!(far.contains("(out of range)"), "{far}");
        let (_, last) = render_claims(&token_with_exp("253402300799"), now).expect("last");
        assert!(last.contains("9999-12-31T23:59:59Z"), "{last}");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn stdin_token_is_capped() {
        let ok = "a".repeat(STDIN_TOKEN_MAX);
        assert_eq!(
            read_token(ok.as_bytes()).expect("at the cap").len(),
            STDIN_TOKEN_MAX
        );
        let big = std::io::repeat(b'a').take(400 * 1024 * 1024);
        let err = read_token(big).expect_err("past the cap");
        assert!(err.message.contains("longer than"), "{}", err.message);
        assert!(read_token(&[0xff, 0xfe][..]).is_err());
    }

    proptest! {
        #[test]
        fn every_integer_exp_renders(exp in any::<i64>(), now in any::<u32>()) {
            let now = UNIX_EPOCH + Duration::from_secs(u64::from(now));
            let (_, expiry) = render_claims(&token_with_exp(&exp.to_string()), now).expect("renders");
            prop_assert!(expiry.starts_with("expire"));
        }

        #[test]
        fn every_float_exp_renders(exp in any::<f64>().prop_filter("JSON has no NaN or inf", |f| f.is_finite())) {
            let text = serde_json::to_string(&exp).expect("finite");
            let (_, expiry) = render_claims(&token_with_exp(&text), SystemTime::now()).expect("renders");
            prop_assert!(expiry.starts_with("expire"));
        }
    }
}
