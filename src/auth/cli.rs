//! `cajahub user …`: managing users from the server's console. Secrets are
//! read from a prompt (or one line of standard input), never from a flag
//! that would show in `ps`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::Subcommand;
use diesel::PgConnection;

use super::password::{Password, Pin};
use super::user::{self, Role, UserName};
use crate::audit::Actor;

#[derive(Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Create a user; asks for the password.
    Add {
        #[arg(long)]
        name: String,
        /// ADMIN, SUPERVISOR or CAJERO.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List users with their role and whether they are enabled.
    List,
    /// Disable a user: no more logins, and their sessions end.
    Disable {
        #[arg(long)]
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        name: String,
    },
    /// Set a new password (asks for it); the user's sessions end.
    SetPassword {
        #[arg(long)]
        name: String,
    },
    /// Set a user's PIN (asks for it), or remove it: a cashier's quick login,
    /// a supervisor's signature on a cashier's device.
    SetPin {
        #[arg(long)]
        name: String,
        #[arg(long)]
        remove: bool,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    value
        .to_uppercase()
        .parse()
        .map_err(|_| "expected ADMIN, SUPERVISOR or CAJERO".to_string())
}

/// Reads a secret: twice from a terminal prompt, or one line of stdin.
fn read_secret(what: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("{what}: "))?;
        let again = rpassword::prompt_password(format!("{what} (otra vez): "))?;
        if first != again {
            bail!("the two entries differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("could not read standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

pub fn run(conn: &mut PgConnection, command: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::command_line();
    match command {
        UserCommand::Add { name, role } => {
            let name = UserName::parse(&name)?;
            let password = Password::parse(read_secret("Contraseña")?)?;
            let user = user::create(conn, &actor, &name, role, &password)?;
            println!("User {} created with role {}.", user.name, user.role);
        }
        UserCommand::List => {
            let users = user::list(conn)?;
            if users.is_empty() {
                println!(
                    "No users yet: create the first with `{} --name admin --role ADMIN`.",
                    user_add_command()
                );
            }
            for user in users {
                let status = if user.is_disabled() {
                    "disabled"
                } else {
                    "enabled"
                };
                let pin = if user.pin_hash.is_some() { ", PIN" } else { "" };
                println!("{:<24} {:<11} {status}{pin}", user.name, user.role.as_str());
            }
        }
        UserCommand::Disable { name } => {
            let user = user::disable(conn, &actor, &name)?;
            println!("User {} disabled; their sessions are closed.", user.name);
        }
        UserCommand::Enable { name } => {
            let user = user::enable(conn, &actor, &name)?;
            println!("User {} enabled.", user.name);
        }
        UserCommand::SetPassword { name } => {
            let password = Password::parse(read_secret("Contraseña nueva")?)?;
            let user = user::set_password(conn, &actor, &name, &password)?;
            println!(
                "Password of {} changed; their sessions are closed.",
                user.name
            );
        }
        UserCommand::SetPin { name, remove } => {
            let pin = if remove {
                None
            } else {
                Some(Pin::parse(read_secret("PIN")?)?)
            };
            let user = user::set_pin(conn, &actor, &name, pin.as_ref())?;
            match pin {
                Some(_) => println!("PIN of {} set.", user.name),
                None => println!("PIN of {} removed.", user.name),
            }
        }
    }
    Ok(())
}

/// How to run `user add` from where this binary is: `cargo run -- user add`
/// from a checkout (the binary is under `target/`), `cajahub user add` once
/// installed.
pub fn user_add_command() -> &'static str {
    let in_checkout = std::env::current_exe().ok().is_some_and(|exe| {
        exe.ancestors().skip(1).take(3).any(|dir| {
            dir.file_name().is_some_and(|n| n == "target")
                && dir.with_file_name("Cargo.toml").is_file()
        })
    });
    if in_checkout {
        "cargo run -- user add"
    } else {
        "cajahub user add"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn from_a_checkout_the_hint_is_cargo_run() {
        // The test binary lives under this checkout's target/.
        assert_eq!(super::user_add_command(), "cargo run -- user add");
    }
}
