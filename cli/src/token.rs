//! `vercel-oidc token` and `vercel-oidc claims`.

use std::io::{IsTerminal, Read};
use std::time::{Duration, SystemTime};

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
    /// Project id or name for the local-dev refresh (default: .vercel/project.json).
    #[arg(long, value_name = "PROJECT")]
    project: Option<String>,
    /// Team id or slug for the local-dev refresh (default: .vercel/project.json).
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
}

/// Arguments of `vercel-oidc claims`.
#[derive(Debug, Args)]
pub(crate) struct ClaimsArgs {
    /// The token; `-` reads it from stdin. When omitted: piped stdin, else the token chain.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

/// The token from the Vercel chain, optionally exchanged for `audience`.
pub(crate) async fn chain_token(
    env: &Env,
    project: Option<&str>,
    team: Option<&str>,
    audience: Option<&str>,
) -> Result<OidcToken, Failure> {
    let mut builder = VercelTokenSource::builder().env(env.clone());
    if let Some(project) = project {
        builder = builder.project(project);
    }
    if let Some(team) = team {
        builder = builder.team(team);
    }
    let token = builder
        .build()
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
    let token = chain_token(
        env,
        args.project.as_deref(),
        args.team.as_deref(),
        args.audience.as_deref(),
    )
    .await?;
    // The command's output is the token itself.
    println!("{}", token.expose_secret());
    Ok(())
}

pub(crate) async fn claims(args: ClaimsArgs, env: &Env) -> Result<(), Failure> {
    let raw = match args.token.as_deref() {
        Some("-") => Some(read_stdin()?),
        Some(token) => Some(token.to_owned()),
        None if !std::io::stdin().is_terminal() => {
            Some(read_stdin()?).filter(|t| !t.trim().is_empty())
        }
        None => None,
    };
    let token = match raw {
        Some(raw) => OidcToken::parse(raw).map_err(|e| Failure::failed(&e))?,
        None => chain_token(env, None, None, None).await?,
    };
    let claims = token.unverified_claims();
    let json = serde_json::to_string_pretty(claims)
        .map_err(|e| Failure::message(format!("cannot print the claims: {e}")))?;
    println!("{json}");
    eprintln!("{}", describe_expiry(token.expires_at(), SystemTime::now()));
    Ok(())
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| Failure::message(format!("cannot read the token from stdin: {e}")))?;
    Ok(text)
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

pub(crate) fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{t:?}"))
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
    use std::time::UNIX_EPOCH;

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
}
