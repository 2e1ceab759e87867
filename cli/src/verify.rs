//! `vercel-oidc verify`.

use clap::Args;
use vercel_oidc::Env;
use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};

use crate::Failure;

/// Arguments of `vercel-oidc verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("issuer").required(true).args(["issuer_team", "global"])))]
pub(crate) struct VerifyArgs {
    /// The token to verify (`-` reads it from stdin).
    #[arg(value_name = "TOKEN")]
    token: String,
    /// Team mode: the issuer is https://oidc.vercel.com/<TEAM_SLUG>.
    #[arg(long, value_name = "TEAM_SLUG")]
    issuer_team: Option<String>,
    /// Global mode: the issuer is https://oidc.vercel.com.
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

/// An unset flag means "any", said explicitly.
fn constraint(values: Vec<String>) -> Constraint {
    if values.is_empty() {
        Constraint::Any
    } else {
        Constraint::one_of(values)
    }
}

pub(crate) async fn verify(args: VerifyArgs, env: &Env) -> Result<(), Failure> {
    let issuer = match args.issuer_team {
        Some(team) => ExpectedIssuer::team(team),
        None => ExpectedIssuer::global(),
    };
    let verifier = Verifier::builder(issuer, args.audience)
        .env(env.clone())
        .project_id(constraint(args.project_ids))
        .environment(constraint(args.environments))
        .owner_id(constraint(args.owner_ids))
        .build()
        .map_err(|e| Failure::config(&e))?;
    let token = if args.token == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Failure::message(format!("cannot read the token from stdin: {e}")))?;
        text
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
    Ok(())
}
