//! Keyring / DPoP mode: `vercel project token <project> --format=json [--scope <team>]`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use super::http::parse_token_field;
use super::paths::ProjectIds;
use crate::env::Env;
use crate::error::{Error, LocalDevErrorKind};
use crate::token::OidcToken;

/// Largest stdout read from the CLI.
const MAX_STDOUT: u64 = 64 * 1024;

/// Variables passed to the CLI from the [`Env`] (with [`Env::real`] they are the inherited
/// ones anyway; with a fixed `Env` they are what the CLI needs to find its login).
const PASSED_ENV: &[&str] = &[
    "HOME",
    "USERPROFILE",
    "PATH",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "APPDATA",
    "LOCALAPPDATA",
    "VERCEL_TOKEN_STORAGE",
    "__VERCEL_FF_DPOP",
];

/// The `vercel` executable: the override, else the first match on the `Env`'s `PATH`.
pub(crate) fn find_vercel(env: &Env, explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let not_found = || Error::local_dev(LocalDevErrorKind::CliNotFound);
    let path = env.get_non_empty("PATH").ok_or_else(not_found)?;
    let names: &[&str] = if cfg!(windows) {
        &["vercel.cmd", "vercel.exe", "vercel"]
    } else {
        &["vercel"]
    };
    std::env::split_paths(&OsString::from(path))
        .filter(|dir| dir.is_absolute())
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Runs the CLI (IDs already checked) and reads `token` from its JSON stdout. The CLI runs in a
/// process group of its own; when it does not finish within `timeout`, or the call is dropped,
/// the whole group is killed (the CLI and anything it started), and the CLI is reaped.
pub(crate) async fn project_token(
    exe: &Path,
    env: &Env,
    cwd: &Path,
    ids: &ProjectIds,
    timeout: Duration,
) -> Result<OidcToken, Error> {
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["project", "token", &ids.project_id, "--format=json"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // The CLI's messages go nowhere: they are not ours to log and may name secrets.
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // Its own process group, so that a timeout or a drop kills what it started as well.
    #[cfg(unix)]
    command.process_group(0);
    if let Some(team) = &ids.team_id {
        command.args(["--scope", team]);
    }
    for name in PASSED_ENV {
        if let Some(value) = env.get(name) {
            command.env(name, value);
        }
    }
    tracing::debug!(project = %ids.project_id, "local-dev refresh: running `vercel project token`");
    let mut child = command
        .spawn()
        .map_err(|e| Error::local_dev_with(LocalDevErrorKind::CliFailed { code: None }, e))?;
    // Declared after `child`, so dropped before it: the group is killed while its leader is not
    // yet reaped (its id cannot have been reused).
    let mut group = GroupKill(child.id());
    let Some(stdout) = child.stdout.take() else {
        return Err(Error::local_dev(LocalDevErrorKind::CliFailed {
            code: None,
        }));
    };
    let run = async {
        let mut out = Vec::new();
        stdout.take(MAX_STDOUT).read_to_end(&mut out).await?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out))
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    let (status, out) = match outcome {
        Ok(Ok(done)) => {
            // Reaped: what the CLI left running is its own business.
            group.disarm();
            done
        }
        Ok(Err(e)) => {
            group.kill();
            let _ = child.kill().await;
            return Err(Error::local_dev_with(
                LocalDevErrorKind::CliFailed { code: None },
                e,
            ));
        }
        Err(_) => {
            // kill() also waits, so no zombie is left behind.
            group.kill();
            let _ = child.kill().await;
            return Err(Error::local_dev(LocalDevErrorKind::CliTimedOut {
                after: timeout,
            }));
        }
    };
    if !status.success() {
        return Err(Error::local_dev(LocalDevErrorKind::CliFailed {
            code: status.code(),
        }));
    }
    let json = serde_json::from_slice::<Value>(&out).ok();
    parse_token_field(json.as_ref().and_then(|v| v.get("token")))
        .ok_or_else(|| Error::local_dev(LocalDevErrorKind::CliInvalidOutput))
}

/// Kills the process group led by the CLI (its pid) when dropped or asked to, once.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn disarm(&mut self) {
        self.0 = None;
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            kill_group(pgid);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends SIGKILL to process group `pgid`. The crate has no `unsafe` and no binding of
/// `kill(2)`, so the POSIX shell's `kill` builtin does it (`/bin/sh` by absolute path, so `PATH`
/// plays no part; the group id is passed as an argument, never spliced into the script).
#[cfg(unix)]
fn kill_group(pgid: u32) {
    if pgid == 0 {
        return;
    }
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", "kill -s KILL -- \"-$1\"", "sh"])
        .arg(pgid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        tracing::debug!(
            pgid,
            "local-dev refresh: could not kill the CLI's process group"
        );
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: u32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Whether process `pid` runs no more (gone, or a zombie nobody reaped yet).
    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        }
    }

    /// Polls `done` every 10 ms for at most 10 s (real processes are involved).
    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("not within 10 s: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_call_kills_the_cli_and_what_it_started() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("vercel");
        let pids = dir.path().join("pids");
        std::fs::write(
            &exe,
            format!(
                "#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > '{}'\nsleep 301\n",
                pids.display()
            ),
        )
        .expect("script");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let env = Env::from_pairs([("PATH", "/usr/bin:/bin")]);
        let ids = ProjectIds {
            project_id: "prj_1".into(),
            team_id: None,
        };
        let call = project_token(&exe, &env, dir.path(), &ids, Duration::from_secs(600));
        tokio::select! {
            result = call => panic!("finished: {result:?}"),
            () = eventually("the CLI started", || {
                std::fs::read_to_string(&pids).is_ok_and(|s| s.ends_with('\n'))
            }) => {}
        }
        // The call is dropped: the CLI and its grandchild are killed.
        let text = std::fs::read_to_string(&pids).expect("pids");
        let (cli, grandchild) = text.trim().split_once(' ').expect("two pids");
        eventually("the CLI is killed", || gone(cli)).await;
        eventually("the grandchild is killed", || gone(grandchild)).await;
    }

    #[tokio::test]
    async fn a_finished_cli_is_not_killed_afterwards() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("vercel");
        std::fs::write(&exe, "#!/bin/sh\nexit 4\n").expect("script");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let ids = ProjectIds {
            project_id: "prj_1".into(),
            team_id: None,
        };
        let err = project_token(
            &exe,
            &Env::from_pairs::<&str, &str>([]),
            dir.path(),
            &ids,
            Duration::from_secs(60),
        )
        .await
        .expect_err("exit 4");
        assert_eq!(
            err.local_dev_kind(),
            Some(&LocalDevErrorKind::CliFailed { code: Some(4) })
        );
    }
}
