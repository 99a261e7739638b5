// statectl backup, restore, verify, migrate, vacuum.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common.h"

namespace statectl {

namespace {

// --step-pages: -1 (everything in one step) or 1..1048576.
int StepPages(const std::string& text) {
  const auto n = ParseIntIn(text, "--step-pages", -1, 1 << 20);
  if (n == 0) UsageError("--step-pages must be -1 (all in one step) or at least 1, not 0");
  return static_cast<int>(n);
}

struct BackupOpts {
  std::vector<std::string> args;
  std::string step_pages = "256";
  bool json = false;
};

int RunBackup(const BackupOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl backup DB DEST");
  const int step_pages = StepPages(o.step_pages);
  auto store = OpenRead(p.db);
  // statestore::Backup counts pages of a file, rows of a PostgreSQL store.
  Progress progress(std::filesystem::exists(p.db) ? "backup (pages)" : "backup (rows)");
  auto r = statestore::Backup(*store, p.rest[0], progress.Callback(), step_pages);
  progress.Done();
  if (o.json) {
    PrintJson({{"source", store->path()},
               {"dest", p.rest[0]},
               {"revision", r.revision},
               {"pages", r.pages},
               {"bytes", r.bytes}});
  } else {
    PrintLine("backup of " + store->path() + " at revision " + std::to_string(r.revision) +
              " written to " + p.rest[0] + " (" + std::to_string(r.pages) + " pages, " +
              std::to_string(r.bytes) + " bytes)");
  }
  return kExitOk;
}

struct RestoreOpts {
  std::vector<std::string> args;
  std::string step_pages = "256";
  bool json = false;
};

int RunRestore(const RestoreOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl restore DB SRC");
  const int step_pages = StepPages(o.step_pages);
  // Pages into a file, rows into a PostgreSQL store (statestore::Restore).
  Progress progress("restore (pages or rows)");
  auto r = AsFileError([&] {
    return statestore::Restore(p.rest[0], p.db, progress.Callback(), step_pages, PostgresTarget());
  });
  progress.Done();
  // A connection string may carry a password: show what Store::path() shows for it instead.
  const std::string target = std::filesystem::exists(p.db) ? p.db : OpenRead(p.db)->path();
  if (o.json) {
    PrintJson({{"target", target},
               {"source", p.rest[0]},
               {"revision", r.revision},
               {"pages", r.pages},
               {"bytes", r.bytes}});
  } else {
    PrintLine("restored " + target + " from " + p.rest[0] + " (revision " +
              std::to_string(r.revision) + ", " + std::to_string(r.pages) +
              (std::filesystem::exists(p.db) ? " pages)" : " rows)"));
  }
  return kExitOk;
}

struct VerifyOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunVerify(const VerifyOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl verify DB");
  auto store = OpenRead(p.db);
  Progress progress("verify (changes)");
  auto r = statestore::Verify(*store, progress.Callback());
  progress.Done();
  if (o.json) {
    json problems = json::array();
    for (const auto& pr : r.problems) {
      problems.push_back({{"revision", pr.revision},
                          {"keyspace", pr.keyspace},
                          {"key", pr.key},
                          {"message", pr.message}});
    }
    PrintJson({{"ok", r.ok()},
               {"integrity", r.integrity},
               {"commits_checked", r.commits_checked},
               {"changes_checked", r.changes_checked},
               {"keys_checked", r.keys_checked},
               {"unverifiable", r.unverifiable},
               {"note", r.note},
               {"problems", problems}});
  } else {
    PrintFields({{"integrity", r.integrity},
                 {"commits checked", std::to_string(r.commits_checked)},
                 {"changes checked", std::to_string(r.changes_checked)},
                 {"keys checked", std::to_string(r.keys_checked)},
                 {"result", r.ok() ? "ok" : std::to_string(r.problems.size()) + " problem(s)"}});
    if (!r.note.empty()) PrintLine("note: " + r.note);
    if (!r.ok()) {
      std::cout << "\n";
      Table t({"REV", "KEYSPACE", "KEY", "PROBLEM"});
      for (const auto& pr : r.problems) {
        t.Add({pr.revision ? std::to_string(pr.revision) : "-", pr.keyspace, pr.key, pr.message});
      }
      t.Print(std::cout);
    }
  }
  if (!r.ok()) {
    Warn("verify found " + std::to_string(r.problems.size()) + " problem(s) in " + store->path());
    return kExitVerifyFailed;
  }
  return kExitOk;
}

struct VacuumOpts {
  std::vector<std::string> args;
  bool json = false;
};

std::string Mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

int RunVacuum(const VacuumOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl vacuum DB");
  auto store = OpenWrite(p.db);
  auto r = statestore::Vacuum(*store);
  if (o.json) {
    PrintJson({{"path", store->path()},
               {"page_size", r.page_size},
               {"pages_before", r.pages_before},
               {"pages_after", r.pages_after},
               {"free_pages_before", r.free_pages_before},
               {"free_pages_after", r.free_pages_after},
               {"bytes_before", r.bytes_before},
               {"bytes_after", r.bytes_after},
               {"auto_vacuum_before", r.auto_vacuum_before},
               {"auto_vacuum_after", r.auto_vacuum_after}});
  } else if (r.auto_vacuum_before.rfind("n/a", 0) == 0) {
    // A PostgreSQL store: VACUUM (ANALYZE) of its tables (statestore/admin.h Vacuum).
    PrintFields(
        {{"vacuum", "VACUUM (ANALYZE) of the store's tables done"},
         {"table size", std::to_string(r.bytes_before) + " -> " + std::to_string(r.bytes_after) +
                            " bytes (" + Mib(r.bytes_before) + " -> " + Mib(r.bytes_after) + ")"},
         {"note",
          "space is reused by later writes; VACUUM FULL or pg_repack (run by the database "
          "administrator; VACUUM FULL locks out readers and writers) returns it to the OS"}});
  } else {
    PrintFields(
        {{"pages", std::to_string(r.pages_before) + " -> " + std::to_string(r.pages_after)},
         {"free pages",
          std::to_string(r.free_pages_before) + " -> " + std::to_string(r.free_pages_after)},
         {"file size", std::to_string(r.bytes_before) + " -> " + std::to_string(r.bytes_after) +
                           " bytes (" + Mib(r.bytes_before) + " -> " + Mib(r.bytes_after) + ")"},
         {"auto_vacuum", r.auto_vacuum_before + " -> " + r.auto_vacuum_after}});
  }
  return kExitOk;
}

struct MigrateOpts {
  std::vector<std::string> args;
  bool status = false;
  bool json = false;
};

int RunMigrate(const MigrateOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl migrate DB [--status]");
  auto before = AsFileError([&] { return statestore::GetMigrationStatus(p.db, PostgresTarget()); });
  if (o.status) {
    if (o.json) {
      json pending = json::array();
      for (const auto& m : before.pending) {
        pending.push_back({{"number", m.number}, {"name", m.name}});
      }
      PrintJson({{"applied", before.applied}, {"library", before.library}, {"pending", pending}});
    } else {
      PrintFields({{"applied", std::to_string(before.applied)},
                   {"library", std::to_string(before.library)},
                   {"pending", std::to_string(before.pending.size())}});
      if (!before.pending.empty()) {
        std::cout << "\n";
        Table t({"NUMBER", "NAME"});
        for (const auto& m : before.pending) t.Add({std::to_string(m.number), m.name});
        t.Print(std::cout);
      }
    }
    return kExitOk;
  }
  OpenWrite(p.db);  // runs pending migrations in one IMMEDIATE transaction
  auto after = AsFileError([&] { return statestore::GetMigrationStatus(p.db, PostgresTarget()); });
  if (o.json) {
    PrintJson({{"from", before.applied}, {"to", after.applied}});
  } else if (before.applied == after.applied) {
    PrintLine("schema version " + std::to_string(after.applied) + " is up to date");
  } else {
    PrintLine("migrated schema version " + std::to_string(before.applied) + " -> " +
              std::to_string(after.applied));
  }
  return kExitOk;
}

}  // namespace

void RegisterAdminCommands(CLI::App& app, Registry& registry) {
  {
    auto o = std::make_shared<BackupOpts>();
    auto* sub = app.add_subcommand(
        "backup",
        "Copy DB into the new file DEST, compactly (VACUUM INTO: no free pages), consistent "
        "while writers run (one snapshot); the NAME-key file is not copied");
    AddArgs(sub, &o->args, "DB DEST");
    sub->add_option("--step-pages", o->step_pages,
                    "Checked and ignored (kept for scripts): the copy is one VACUUM INTO");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer("Example:\n  statectl backup app.db /backups/app-2026-01-31.db");
    sub->callback([&registry, o] { registry.action = [o] { return RunBackup(*o); }; });
  }
  {
    auto o = std::make_shared<RestoreOpts>();
    auto* sub = app.add_subcommand(
        "restore",
        "Replace DB's contents with the statestore backup SRC (stop every process "
        "using DB first)");
    AddArgs(sub, &o->args, "DB SRC");
    sub->add_option("--step-pages", o->step_pages,
                    "Pages copied per step (default 256; -1 = all in one step)");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer("Example:\n  statectl restore app.db /backups/app-2026-01-31.db");
    sub->callback([&registry, o] { registry.action = [o] { return RunRestore(*o); }; });
  }
  {
    auto o = std::make_shared<VerifyOpts>();
    auto* sub = app.add_subcommand(
        "verify",
        "integrity_check, foreign keys, and history/state consistency (exit 4 on a "
        "problem; read-only)");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl verify app.db && echo consistent");
    sub->callback([&registry, o] { registry.action = [o] { return RunVerify(*o); }; });
  }
  {
    auto o = std::make_shared<VacuumOpts>();
    auto* sub = app.add_subcommand(
        "vacuum",
        "Rewrite DB compactly (SQLite VACUUM) and switch it to incremental auto-vacuum, so "
        "freed pages are returned from then on");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer(
        "Holds the write lock for its whole duration (seconds per GiB): writers of every "
        "process wait up to their busy_timeout, then fail with Busy. Readers are not blocked. "
        "Needs free disk space of about the live data beside DB (the -wal) and again in the "
        "temp directory ($SQLITE_TMPDIR). Files created by this version are incremental "
        "already; run it once on older files, at a quiet moment.\n"
        "Example:\n  statectl vacuum app.db");
    sub->callback([&registry, o] { registry.action = [o] { return RunVacuum(*o); }; });
  }
  {
    auto o = std::make_shared<MigrateOpts>();
    auto* sub = app.add_subcommand("migrate",
                                   "Apply pending schema migrations (or show them with --status)");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--status", o->status, "Only show applied/library versions and pending ones");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Examples:\n  statectl migrate app.db --status\n  statectl migrate app.db");
    sub->callback([&registry, o] { registry.action = [o] { return RunMigrate(*o); }; });
  }
}

}  // namespace statectl
