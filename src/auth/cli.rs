//! `vigie user add|passwd|disable|enable|list` and `vigie token add|revoke|list`: accounts and API
//! tokens, in the journal database named by the configuration (or `--journal`). Works while the
//! engine runs (SQLite WAL): a new account can log in at once, a revoked token is refused at its
//! next request. Passwords are read without echo from the terminal, or one line from standard
//! input with `--password-stdin` (scripts); there is no default password.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Role, Store, MIN_PASSWORD_LEN};

/// Where the accounts are: the journal of a configuration, or a journal file.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The configuration file of the server (its journal holds the accounts).
    #[arg(
        short,
        long,
        required_unless_present = "journal",
        conflicts_with = "journal"
    )]
    config: Option<PathBuf>,
    /// The journal database itself.
    #[arg(long)]
    journal: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (the first admin is created this way).
    Add {
        name: String,
        /// operator, supervisor, auditor or admin.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        db: DbArgs,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (ends the account's open sessions).
    Passwd {
        name: String,
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot log in, its sessions end now. Nothing is deleted.
    Disable {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled account again.
    Enable {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (the only time it is shown).
    Add {
        name: String,
        /// operator, supervisor, auditor or admin.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token: refused from its next request on.
    Revoke {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Why a command failed (printed by `main`).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Journal(#[from] crate::alerts::JournalError),
    #[error(transparent)]
    Auth(#[from] super::AuthError),
    #[error("{0}")]
    Input(String),
}

fn open(db: &DbArgs) -> Result<Store, CliError> {
    let path = match (&db.journal, &db.config) {
        (Some(j), _) => j.clone(),
        (None, Some(c)) => crate::config::Config::load(c)
            .map_err(|e| CliError::Config(e.to_string()))?
            .journal_path(),
        (None, None) => return Err(CliError::Input("--config or --journal is required".into())),
    };
    // The journal's own schema first (creates the file, migrates an older one).
    drop(crate::alerts::Journal::open(&path)?);
    Ok(Store::open(&path)?)
}

fn role(text: &str) -> Result<Role, CliError> {
    Role::parse(text).ok_or_else(|| {
        CliError::Input(format!(
            "unknown role `{text}`: operator, supervisor, auditor or admin"
        ))
    })
}

/// Who ran the command, for the security journal.
fn by() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("command line ({user})")
}

fn read_password(from_stdin: bool) -> Result<String, CliError> {
    let io = |e: std::io::Error| CliError::Input(format!("cannot read the password: {e}"));
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(io)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password(format!(
        "Password (at least {MIN_PASSWORD_LEN} characters): "
    ))
    .map_err(io)?;
    let again = rpassword::prompt_password("Password again: ").map_err(io)?;
    if first != again {
        return Err(CliError::Input("the two passwords differ".into()));
    }
    Ok(first)
}

/// `2024-05-01 10:00 UTC`.
fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

pub fn user(args: UserArgs) -> Result<(), CliError> {
    match args.command {
        UserCommand::Add {
            name,
            role: r,
            db,
            password_stdin,
        } => {
            let role = role(&r)?;
            let store = open(&db)?;
            let password = read_password(password_stdin)?;
            let u = store.add_user(&name, role, &password, &by())?;
            println!("account `{}` created, role {}", u.name, u.role);
        }
        UserCommand::Passwd {
            name,
            db,
            password_stdin,
        } => {
            let store = open(&db)?;
            let password = read_password(password_stdin)?;
            store.set_password(&name, &password, &by())?;
            println!("password of `{name}` changed; its open sessions ended");
        }
        UserCommand::Disable { name, db } => {
            open(&db)?.set_disabled(&name, true, &by())?;
            println!("account `{name}` disabled; its open sessions ended");
        }
        UserCommand::Enable { name, db } => {
            open(&db)?.set_disabled(&name, false, &by())?;
            println!("account `{name}` enabled");
        }
        UserCommand::List { db } => {
            let users = open(&db)?.users()?;
            if users.is_empty() {
                println!("no account yet: create the first admin with `vigie user add NAME --role admin --config FILE`");
            }
            for u in users {
                println!(
                    "{:<24} {:<10} {:<8} created {}  password changed {}",
                    u.name,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "active" },
                    when(u.created_at_ms),
                    when(u.password_changed_at_ms)
                );
            }
        }
    }
    Ok(())
}

pub fn token(args: TokenArgs) -> Result<(), CliError> {
    match args.command {
        TokenCommand::Add { name, role: r, db } => {
            let role = role(&r)?;
            let (token, info) = open(&db)?.add_token(&name, role, &by())?;
            eprintln!(
                "token `{}` created, role {}; it is shown once, keep it now (Authorization: Bearer …):",
                info.name, info.role
            );
            println!("{token}");
        }
        TokenCommand::Revoke { name, db } => {
            open(&db)?.revoke_token(&name, &by())?;
            println!("token `{name}` revoked");
        }
        TokenCommand::List { db } => {
            for t in open(&db)?.tokens()? {
                let state = match t.revoked_at_ms {
                    Some(ms) => format!("revoked {}", when(ms)),
                    None => "active".to_string(),
                };
                println!(
                    "{:<24} {:<10} created {}  {state}",
                    t.name,
                    t.role.as_str(),
                    when(t.created_at_ms)
                );
            }
        }
    }
    Ok(())
}
