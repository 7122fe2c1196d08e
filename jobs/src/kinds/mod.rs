//! The job kinds: each kind's args and defaults ([`crate::queue::JobSpec`]: kind string,
//! queue, attempts, timeout, idempotency key) and, for periodic jobs, the schedule
//! ([`crate::queue::Periodic`]). They sit below the domain modules (`membership`,
//! `payments`, `conversation`) so those can enqueue a job without knowing how it runs;
//! how each kind runs is the file of the same name in [`crate::catalog`], which
//! re-exports its args. Kind strings are stable: never rename one once shipped.

pub mod answer_join_request;
pub mod answer_pre_checkout;
pub mod ban_subscriber;
pub mod broadcast;
pub mod cancel_subscription;
pub mod connect_bot;
pub mod connect_manager_bot;
pub mod consistency_sweep;
pub mod create_stripe_checkout;
pub mod daily_member_count;
pub mod delete_message;
pub mod deliver_webhook;
pub mod diagnostics;
pub mod expiry_scan;
pub mod grant_access;
pub mod issue_invite;
pub mod kick_expired;
pub mod maintenance;
pub mod process_stars_payment;
pub mod process_stripe_event;
pub mod process_telegram_update;
pub mod redeem_access_code;
pub mod refund_stars_payment;
pub mod relay_message;
pub mod remind_expiry;
pub mod remove_member;
pub mod revoke_link;
pub mod revoke_misused_link;
pub mod send_manager_message;
pub mod send_message;
pub mod send_stars_invoice;
pub mod set_owner_commands;
pub mod unban_then_link;
pub mod verify_chat;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The modules below the catalog, and what each may not name: the layers stay
    /// acyclic (`kinds` below the domain, the domain below `catalog`).
    const RULES: &[(&str, &[&str])] = &[
        (
            "kinds",
            &[
                "crate::catalog",
                "crate::membership",
                "crate::payments",
                "crate::conversation",
                "crate::runtime",
                "crate::setup",
            ],
        ),
        ("store", &["crate::catalog", "crate::membership", "crate::payments", "crate::conversation", "crate::setup"]),
        ("membership", &["crate::catalog", "crate::payments", "crate::conversation", "crate::setup"]),
        ("payments", &["crate::catalog", "crate::conversation", "crate::setup"]),
        ("setup", &["crate::catalog", "crate::conversation"]),
        ("conversation", &["crate::catalog"]),
    ];

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_names_a_layer_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        for (module, forbidden) in RULES {
            let mut files = Vec::new();
            rust_files(&src.join(module), &mut files);
            assert!(!files.is_empty(), "no files under src/{module}");
            for file in files {
                let text = std::fs::read_to_string(&file).expect("readable");
                let code = text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//"));
                for (n, line) in code {
                    for name in *forbidden {
                        let bare = name.trim_start_matches("crate::");
                        // `crate::payments::…`, a member of a `use crate::{…}` group on its
                        // own line (`payments::{…}`), or one on the same line.
                        let named = line.contains(&format!("{name}::"))
                            || line.trim_start().starts_with(&format!("{bare}::"))
                            || line.contains("crate::{")
                                && line.split("crate::{").nth(1).is_some_and(|g| {
                                    g.split([',', '}']).any(|m| m.trim().starts_with(&format!("{bare}::")))
                                });
                        if named {
                            found.push(format!("{}:{}: {name}", file.display(), n + 1));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
    }
}
