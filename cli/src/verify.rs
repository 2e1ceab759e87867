//! `vercel-oidc verify`.

use clap::Args;
use vercel_oidc::Env;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};

use crate::Failure;

/// Arguments of `vercel-oidc verify`.
#[derive(Debug, Args)]
// One issuer mode or both: `--issuer-team T --global` accepts team T's tokens from either.
#[command(group(clap::ArgGroup::new("issuer").required(true).multiple(true).args(["issuer_team", "global"])))]
pub(crate) struct VerifyArgs {
    /// The token to verify; `-` reads it from stdin (recommended: argv is visible to other users
    /// in `/proc` and lands in shell history).
    #[arg(value_name = "TOKEN")]
    token: String,
    /// Team mode: the issuer is https://oidc.vercel.com/<TEAM_SLUG>. With --global as well,
    /// either issuer, and a global token's owner must be TEAM_SLUG.
    #[arg(long, value_name = "TEAM_SLUG")]
    issuer_team: Option<String>,
    /// Global mode: the issuer is https://oidc.vercel.com (any team's tokens unless
    /// --issuer-team or --owner-id pins the team).
    #[arg(long)]
    global: bool,
    /// The required audience (e.g. https://vercel.com/<team_slug>).
    #[arg(long, value_name = "AUD")]
    audience: String,
    /// Required project_id; repeat to allow several. Default: any project.
    #[arg(long = "project-id", value_name = "ID")]
    project_ids: Vec<String>,
    /// Required environment (production, preview, development); repeat to allow several.
    /// Default: any environment.
    #[arg(long = "environment", value_name = "ENV")]
    environments: Vec<String>,
    /// Required owner_id (team id); repeat to allow several. Default: any owner.
    #[arg(long = "owner-id", value_name = "ID")]
    owner_ids: Vec<String>,
}

/// An unset flag means "any", said explicitly (here, and on stderr when the command runs).
fn constraint(values: Vec<String>) -> Constraint {
    if values.is_empty() {
        Constraint::Any
    } else {
        Constraint::one_of(values)
    }
}

/// The stderr notes for the constraints left open, so "any project" is never a silent default.
fn open_constraints(args: &VerifyArgs) -> Vec<&'static str> {
    [
        (
            args.project_ids.is_empty(),
            "note: accepting any project_id (pin it with --project-id)",
        ),
        (
            args.environments.is_empty(),
            "note: accepting any environment (pin it with --environment)",
        ),
        (
            args.owner_ids.is_empty(),
            "note: accepting any owner_id (pin it with --owner-id)",
        ),
    ]
    .into_iter()
    .filter_map(|(open, note)| open.then_some(note))
    .collect()
}

pub(crate) async fn verify(args: VerifyArgs, env: &Env) -> Result<(), Failure> {
    // Said after a success, on stderr: what the verdict did not check.
    let notes = open_constraints(&args);
    let issuer = match (args.issuer_team, args.global) {
        (Some(team), true) => ExpectedIssuer::team_or_global(team),
        (Some(team), false) => ExpectedIssuer::team(team),
        (None, _) => ExpectedIssuer::global(),
    };
    let verifier = Verifier::builder(issuer, args.audience)
        .env(env.clone())
        .project_id(constraint(args.project_ids))
        .environment(constraint(args.environments))
        .owner_id(constraint(args.owner_ids))
        .build()
        .map_err(|e| Failure::config(&e))?;
    let token = if args.token == "-" {
        crate::token::read_token_from_stdin()?
    } else {
        args.token
    };
    let claims = verifier
        .verify(token.trim())
        .await
        .map_err(|e| Failure::failed(&e))?;
    let json = serde_json::to_string_pretty(&claims)
        .map_err(|e| Failure::message(format!("cannot print the claims: {e}")))?;
    println!("{json}");
    for note in notes {
        eprintln!("{note}");
    }
    Ok(())
}
