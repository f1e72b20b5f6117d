//! `stoa compliance`: adapters' settings, runs on demand, status and verification.

use anyhow::{Context, bail};
use stoa_client::Client;
use stoa_wire::{ComplianceVerifyRequest, ComplianceView, UpdateComplianceAdapterRequest};

use crate::cli::{ComplianceCommand, ComplianceSetArgs};
use crate::output::{optional, print_json, print_record, print_table, yes_no};

pub async fn run(client: &Client, command: ComplianceCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ComplianceCommand::Get => print_settings(&client.compliance().await?, json),
        ComplianceCommand::Set(args) => {
            let name = args.adapter_name.clone();
            let request = set_request(args)?;
            print_settings(&client.put_compliance_adapter(&name, &request).await?, json)
        }
        ComplianceCommand::Remove { adapter_name } => {
            client.remove_compliance_adapter(&adapter_name).await?;
            if json {
                return print_json(&serde_json::json!({ "removed": adapter_name }));
            }
            println!("removed compliance adapter {adapter_name}");
            Ok(())
        }
        ComplianceCommand::Run => {
            let runs = client.run_compliance().await?;
            if json {
                return print_json(&runs);
            }
            print_table(
                &["adapter", "events", "positions", "files"],
                runs.iter()
                    .map(|run| {
                        let positions = match (run.first_position, run.last_position) {
                            (Some(first), Some(last)) => format!("{first}-{last}"),
                            _ => "-".to_owned(),
                        };
                        vec![
                            run.adapter_name.clone(),
                            run.events.to_string(),
                            positions,
                            run.files.join("\n"),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        ComplianceCommand::Status => {
            let status = client.compliance_status().await?;
            if json {
                return print_json(&status);
            }
            print_record(vec![
                ("chain head", status.chain_head.to_string()),
                (
                    "captured, not yet sealed",
                    status.captured_unsealed.to_string(),
                ),
            ]);
            print_table(
                &[
                    "adapter",
                    "exported through",
                    "pending",
                    "last run",
                    "node",
                    "events",
                    "last error",
                ],
                status
                    .adapters
                    .iter()
                    .map(|adapter| {
                        vec![
                            adapter.adapter_name.clone(),
                            adapter.exported_through.to_string(),
                            adapter.events_pending.to_string(),
                            optional(&adapter.last_run),
                            optional(&adapter.last_run_node),
                            adapter.last_run_events.to_string(),
                            optional(&adapter.last_error),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        ComplianceCommand::Verify { output_directory } => {
            let output_directory = output_directory
                .map(|directory| absolute(&directory))
                .transpose()?;
            let report = client
                .verify_compliance(&ComplianceVerifyRequest { output_directory })
                .await?;
            if json {
                print_json(&report)?;
            } else {
                print_record(vec![
                    ("stored events checked", report.events_checked.to_string()),
                    ("files checked", report.files_checked.to_string()),
                    (
                        "exported events checked",
                        report.exported_events_checked.to_string(),
                    ),
                    ("result", if report.ok { "ok" } else { "BROKEN" }.to_owned()),
                ]);
            }
            if let Some(found) = report.first_break {
                let at = found
                    .position
                    .map(|position| format!(" at position {position}"))
                    .unwrap_or_default();
                bail!("the compliance record is broken{at}: {}", found.problem);
            }
            Ok(())
        }
    }
}

fn print_settings(view: &ComplianceView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(view);
    }
    if !view.enabled {
        println!("No compliance adapter is configured: no compliance data is kept.");
        println!("Configure one with `stoa compliance set --adapter-output-directory DIR`.");
        return Ok(());
    }
    print_table(
        &[
            "adapter",
            "type",
            "output directory",
            "one room per file",
            "attachments manifest",
            "room details",
            "user details",
            "run interval",
        ],
        view.adapters
            .iter()
            .map(|adapter| {
                vec![
                    adapter.adapter_name.clone(),
                    adapter.adapter_type.clone(),
                    adapter.adapter_output_directory.clone(),
                    yes_no(adapter.one_chat_room_per_output_file),
                    yes_no(adapter.create_file_attachments_manifest),
                    yes_no(adapter.add_chat_room_details),
                    yes_no(adapter.add_user_details),
                    describe_interval(adapter.run_interval_seconds),
                ]
            })
            .collect(),
    );
    Ok(())
}

fn set_request(args: ComplianceSetArgs) -> anyhow::Result<UpdateComplianceAdapterRequest> {
    Ok(UpdateComplianceAdapterRequest {
        adapter_type: args.adapter_type,
        adapter_output_directory: args
            .adapter_output_directory
            .map(|directory| absolute(&directory))
            .transpose()?,
        one_chat_room_per_output_file: args.one_chat_room_per_output_file,
        create_file_attachments_manifest: args.create_file_attachments_manifest,
        add_chat_room_details: args.add_chat_room_details,
        add_user_details: args.add_user_details,
        run_interval_seconds: args
            .run_interval
            .as_deref()
            .map(parse_interval)
            .transpose()?,
    })
}

/// A path as the server should see it: relative paths are taken from the working directory.
fn absolute(path: &std::path::Path) -> anyhow::Result<String> {
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .context("cannot read the working directory")?
            .join(path)
    };
    Ok(path.display().to_string())
}

/// Parses `90s`, `15m`, `2h`, `1d` or a plain number of seconds.
fn parse_interval(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: i64 = number.parse().with_context(|| {
        format!("run interval {text:?} is not a number with a unit (s, m, h, d)")
    })?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => bail!("run interval {text:?} has an unknown unit; use s, m, h or d (e.g. 15m)"),
    };
    number
        .checked_mul(seconds_per_unit)
        .context("run interval is too long")
}

fn describe_interval(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_with_units() {
        assert_eq!(parse_interval("90s").unwrap(), 90);
        assert_eq!(parse_interval("15m").unwrap(), 900);
        assert_eq!(parse_interval("2h").unwrap(), 7_200);
        assert_eq!(parse_interval("30d").unwrap(), 2_592_000);
        assert_eq!(parse_interval("600").unwrap(), 600);
        assert!(parse_interval("5 weeks").is_err());
        assert!(parse_interval("m").is_err());
        assert_eq!(describe_interval(900), "15m");
        assert_eq!(describe_interval(86_400), "1d");
    }
}
