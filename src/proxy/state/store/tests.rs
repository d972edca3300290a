use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::sqlite::SqliteStore;
use super::*;

/// A fresh database file under the temp directory, removed when dropped.
pub(crate) struct TempDb(pub PathBuf);

impl TempDb {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "llmswitch-state-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        TempDb(dir.join("state.db"))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The store of every backend: SQLite in `db`, and PostgreSQL (a new database of the test
/// cluster) when it is installed.
async fn backends(db: &TempDb) -> Vec<Box<dyn Store>> {
    let mut stores: Vec<Box<dyn Store>> = vec![Box::new(SqliteStore::open(&db.0).unwrap())];
    if let Some(pg) = super::pg_cluster::store().await {
        stores.push(Box::new(pg));
    }
    stores
}

fn key(token: &str, alias: Option<&str>, team: Option<&str>, created: Micros) -> KeyRow {
    KeyRow {
        token: token.to_owned(),
        key_name: Some("sk-...abcd".to_owned()),
        key_alias: alias.map(str::to_owned),
        team_id: team.map(str::to_owned),
        models: vec!["gpt-4o".to_owned()],
        metadata: json!({"tags": ["a", "b"], "env": "prod"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        max_budget: Some(10.0),
        budget_duration: Some("1d".to_owned()),
        budget_reset_at: Some(created + 100),
        rpm_limit: Some(5),
        created_at: Some(created),
        updated_at: Some(created),
        ..Default::default()
    }
}

fn log(id: &str, key: &str, team: Option<&str>, model: &str, cost: f64, at: Micros) -> SpendLogRow {
    SpendLogRow {
        request_id: id.to_owned(),
        call_type: "acompletion".to_owned(),
        api_key: key.to_owned(),
        spend: cost,
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        start_time: at,
        end_time: at + 1000,
        model: model.to_owned(),
        model_group: Some(model.to_owned()),
        team_id: team.map(str::to_owned),
        request_tags: vec!["t1".to_owned()],
        metadata: json!({"user_api_key_alias": "alias-1"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        status: Some("success".to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn keys_survive_a_reopen_and_keep_every_column() {
    let db = TempDb::new("reopen");
    let pg_url = super::pg_cluster::database().await;
    let mut row = key("h1", Some("alias-1"), Some("team-1"), 1_000);
    row.expires = Some(1_700_000_000_123_456);
    row.max_parallel_requests = Some(3);
    row.allowed_cache_controls = vec!["no-cache".into()];
    row.blocked = Some(false);
    let open = |pg: bool| {
        let (path, url) = (db.0.clone(), pg_url.clone());
        async move {
            let store: Box<dyn Store> = match (pg, url) {
                (true, Some(url)) => Box::new(
                    super::postgres::PostgresStore::connect(
                        &super::postgres::PostgresOptions::new(&url),
                    )
                    .await
                    .unwrap(),
                ),
                _ => Box::new(SqliteStore::open(&path).unwrap()),
            };
            store
        }
    };
    for pg in [false, true] {
        {
            let store = open(pg).await;
            store.insert_key(row.clone()).await.unwrap();
            assert!(matches!(
                store.insert_key(row.clone()).await,
                Err(StoreError::Conflict(_))
            ));
        }
        let store = open(pg).await;
        assert_eq!(store.get_key("h1".into()).await.unwrap(), Some(row.clone()));
        assert_eq!(row.tags(), vec!["a", "b"]);
        assert_eq!(store.get_key("nope".into()).await.unwrap(), None);
        assert_eq!(
            store.keys_by_alias("alias-1".into()).await.unwrap().len(),
            1
        );
        if pg_url.is_none() {
            break;
        }
    }
}

#[tokio::test]
async fn updates_leave_spend_alone_unless_asked() {
    let db = TempDb::new("update");
    for store in backends(&db).await {
        store.insert_key(key("h1", None, None, 1)).await.unwrap();
        let mut batch = SpendBatch::default();
        batch.increments.keys.push(("h1".into(), 2.5));
        store.write_spend(batch).await.unwrap();
        let mut row = store.get_key("h1".into()).await.unwrap().unwrap();
        assert_eq!(row.spend, 2.5);
        row.spend = 0.0;
        row.blocked = Some(true);
        assert!(store.update_key(row.clone(), false).await.unwrap());
        let got = store.get_key("h1".into()).await.unwrap().unwrap();
        assert_eq!((got.spend, got.blocked), (2.5, Some(true)));
        assert!(store.update_key(row.clone(), true).await.unwrap());
        assert_eq!(
            store.get_key("h1".into()).await.unwrap().unwrap().spend,
            0.0
        );
        row.token = "missing".into();
        assert!(!store.update_key(row, false).await.unwrap());
    }
}

#[tokio::test]
async fn regenerate_moves_the_row_to_a_new_token() {
    let db = TempDb::new("regen");
    for store in backends(&db).await {
        store
            .insert_key(key("old", Some("a"), None, 1))
            .await
            .unwrap();
        let mut batch = SpendBatch::default();
        batch.increments.keys.push(("old".into(), 1.0));
        store.write_spend(batch).await.unwrap();
        let mut row = store.get_key("old".into()).await.unwrap().unwrap();
        row.token = "new".into();
        row.rotation_count = 1;
        assert!(store.replace_key_token("old".into(), row).await.unwrap());
        assert_eq!(store.get_key("old".into()).await.unwrap(), None);
        let archived = store.get_deleted_key("old".into()).await.unwrap().unwrap();
        assert_eq!(archived.key.key_alias.as_deref(), Some("a"));
        let new = store.get_key("new".into()).await.unwrap().unwrap();
        assert_eq!((new.spend, new.rotation_count), (1.0, 1));
    }
}

#[tokio::test]
async fn deleted_keys_are_archived_and_listed_no_more() {
    let db = TempDb::new("delete");
    for store in backends(&db).await {
        for (i, t) in ["k1", "k2", "k3"].iter().enumerate() {
            store
                .insert_key(key(t, None, Some("team"), i as i64))
                .await
                .unwrap();
        }
        let deleted = store
            .delete_keys(vec!["k1".into(), "zz".into()], Some("admin".into()))
            .await
            .unwrap();
        assert_eq!(deleted, vec!["k1"]);
        assert_eq!(store.get_key("k1".into()).await.unwrap(), None);
        let archived = store.get_deleted_key("k1".into()).await.unwrap().unwrap();
        assert_eq!(archived.key.token, "k1");
        assert_eq!(archived.deleted_by.as_deref(), Some("admin"));
        let (page, total) = store
            .list_keys(KeyQuery {
                page: 1,
                size: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].token, "k3", "newest first");
        let (page2, _) = store
            .list_keys(KeyQuery {
                page: 2,
                size: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page2[0].token, "k2");
    }
}

#[tokio::test]
async fn deleting_a_team_deletes_its_keys() {
    let db = TempDb::new("teams");
    for store in backends(&db).await {
        let team = TeamRow {
            team_id: "t1".into(),
            team_alias: Some("Team One".into()),
            models: vec!["gpt-4o".into()],
            max_budget: Some(5.0),
            created_at: Some(1),
            updated_at: Some(1),
            ..Default::default()
        };
        store.insert_team(team.clone()).await.unwrap();
        assert!(matches!(
            store.insert_team(team.clone()).await,
            Err(StoreError::Conflict(_))
        ));
        store
            .insert_key(key("k1", None, Some("t1"), 1))
            .await
            .unwrap();
        store.insert_key(key("k2", None, None, 2)).await.unwrap();
        assert_eq!(
            store.get_team("t1".into()).await.unwrap(),
            Some(team.clone())
        );
        let mut changed = team.clone();
        changed.blocked = true;
        changed.spend = 9.0;
        assert!(store.update_team(changed, false).await.unwrap());
        let got = store.get_team("t1".into()).await.unwrap().unwrap();
        assert!(got.blocked);
        assert_eq!(got.spend, 0.0);
        assert_eq!(store.team_keys("t1".into()).await.unwrap().len(), 1);
        let (teams, keys) = store.delete_teams(vec!["t1".into()], None).await.unwrap();
        assert_eq!(
            (teams, keys),
            (vec!["t1".to_owned()], vec!["k1".to_owned()])
        );
        assert!(store.list_teams().await.unwrap().is_empty());
        assert!(store.get_key("k2".into()).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn end_users_carry_their_budget_rows() {
    let db = TempDb::new("end-users");
    for store in backends(&db).await {
        let budget = BudgetRow {
            budget_id: "b1".into(),
            max_budget: Some(1.0),
            rpm_limit: Some(3),
            budget_duration: Some("1h".into()),
            budget_reset_at: Some(50),
            created_at: 1,
            created_by: "admin".into(),
            updated_at: 1,
            updated_by: "admin".into(),
            ..Default::default()
        };
        let user = EndUserRow {
            user_id: "u1".into(),
            alias: Some("User One".into()),
            budget_id: Some("b1".into()),
            budget: Some(budget.clone()),
            ..Default::default()
        };
        store.insert_end_user(user.clone()).await.unwrap();
        assert_eq!(
            store.get_end_user("u1".into()).await.unwrap(),
            Some(user.clone())
        );
        // Spend tracking creates end users it has not seen.
        let mut batch = SpendBatch::default();
        batch.increments.end_users = vec![("u1".into(), 0.5), ("u2".into(), 0.25)];
        store.write_spend(batch).await.unwrap();
        assert_eq!(store.list_end_users(false).await.unwrap().len(), 2);
        let restricted = store.list_end_users(true).await.unwrap();
        assert_eq!(restricted.len(), 1);
        assert_eq!(restricted[0].spend, 0.5);
        let mut blocked = store.get_end_user("u2".into()).await.unwrap().unwrap();
        assert_eq!(blocked.spend, 0.25);
        blocked.blocked = true;
        assert!(store.update_end_user(blocked).await.unwrap());
        assert_eq!(store.list_end_users(true).await.unwrap().len(), 2);
        // The budget's window ends: its end users' spend starts again.
        let due = store.due_resets(60).await.unwrap();
        assert_eq!(due.len(), 1);
        let mut reset = due[0].clone();
        assert_eq!(reset.owner, BudgetOwner::Budget);
        reset.next_reset_at = 3600;
        assert_eq!(store.apply_resets(vec![reset.clone()]).await.unwrap(), 1);
        assert_eq!(store.apply_resets(vec![reset]).await.unwrap(), 0, "once");
        let u1 = store.get_end_user("u1".into()).await.unwrap().unwrap();
        assert_eq!(u1.spend, 0.0);
        assert_eq!(u1.budget.unwrap().budget_reset_at, Some(3600));
        assert_eq!(
            store
                .delete_end_users(vec!["u1".into(), "u9".into()])
                .await
                .unwrap(),
            1
        );
    }
}

#[tokio::test]
async fn key_and_team_budgets_reset_when_due() {
    let db = TempDb::new("resets");
    for store in backends(&db).await {
        store
            .insert_key(key("k1", None, None, 1_000))
            .await
            .unwrap(); // resets at 1_100
        let mut batch = SpendBatch::default();
        batch.increments.keys.push(("k1".into(), 3.0));
        store.write_spend(batch).await.unwrap();
        assert!(store.due_resets(1_099).await.unwrap().is_empty());
        let mut due = store.due_resets(1_100).await.unwrap();
        assert_eq!(due.len(), 1);
        due[0].next_reset_at = 2_000;
        assert_eq!(store.apply_resets(due).await.unwrap(), 1);
        let k = store.get_key("k1".into()).await.unwrap().unwrap();
        assert_eq!((k.spend, k.budget_reset_at), (0.0, Some(2_000)));
    }
}

#[tokio::test]
async fn spend_logs_filter_and_aggregate_in_sql() {
    let db = TempDb::new("spend");
    for store in backends(&db).await {
        store
            .insert_team(TeamRow {
                team_id: "t1".into(),
                team_alias: Some("Alpha".into()),
                created_at: Some(0),
                updated_at: Some(0),
                ..Default::default()
            })
            .await
            .unwrap();
        let day = crate::spend::clock::MICROS_PER_DAY;
        let mut logs = vec![
            log("r1", "k1", Some("t1"), "gpt-4o", 1.0, 10),
            log("r2", "k1", Some("t1"), "gpt-4o-mini", 0.5, 20),
            log("r3", "k2", None, "gpt-4o", 0.25, day + 5),
        ];
        logs[2].request_tags = vec!["t1".into(), "t2".into()];
        logs[2].end_user = Some("cust".into());
        let batch = SpendBatch {
            logs: logs.clone(),
            increments: SpendIncrements::default(),
        };
        store.write_spend(batch.clone()).await.unwrap();
        store.write_spend(batch).await.unwrap(); // written once
        let all = store
            .spend_logs(SpendLogQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter()
                .map(|l| l.request_id.as_str())
                .collect::<Vec<_>>(),
            vec!["r3", "r2", "r1"]
        );
        assert_eq!(all[2], logs[0]);
        let q = |f: SpendLogQuery| {
            let store = &store;
            async move {
                store
                    .spend_logs(SpendLogQuery { limit: 100, ..f })
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(
            q(SpendLogQuery {
                api_key: Some("k1".into()),
                ..Default::default()
            })
            .await,
            2
        );
        assert_eq!(
            q(SpendLogQuery {
                team_id: Some("t1".into()),
                ..Default::default()
            })
            .await,
            2
        );
        assert_eq!(
            q(SpendLogQuery {
                model: Some("gpt-4o".into()),
                ..Default::default()
            })
            .await,
            2
        );
        assert_eq!(
            q(SpendLogQuery {
                tag: Some("t2".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            q(SpendLogQuery {
                end_user: Some("cust".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            q(SpendLogQuery {
                key_alias: Some("alias-1".into()),
                ..Default::default()
            })
            .await,
            3
        );
        assert_eq!(
            q(SpendLogQuery {
                start: Some(15),
                end: Some(day),
                ..Default::default()
            })
            .await,
            1
        );

        let totals = |group_by: Vec<SpendDimension>| {
            let store = &store;
            async move {
                store
                    .spend_totals(SpendTotalsQuery {
                        group_by,
                        filter: SpendLogQuery::default(),
                    })
                    .await
                    .unwrap()
            }
        };
        let by_day = totals(vec![SpendDimension::Day]).await;
        assert_eq!(by_day.len(), 2);
        assert_eq!(by_day[0].keys, vec![Some("1970-01-01".to_owned())]);
        assert_eq!((by_day[0].spend, by_day[0].requests), (1.5, 2));
        let by_team = totals(vec![SpendDimension::TeamName]).await;
        assert_eq!(
            by_team
                .iter()
                .map(|r| (r.keys[0].clone(), r.spend))
                .collect::<Vec<_>>(),
            vec![
                (Some("Alpha".into()), 1.5),
                (Some("Unassigned Team".into()), 0.25)
            ]
        );
        let by_tag = totals(vec![SpendDimension::Tag]).await;
        assert_eq!(
            by_tag
                .iter()
                .map(|r| (r.keys[0].clone(), r.requests))
                .collect::<Vec<_>>(),
            vec![(Some("t1".into()), 3), (Some("t2".into()), 1)]
        );
        let by_key_model = totals(vec![SpendDimension::ApiKey, SpendDimension::Model]).await;
        assert_eq!(by_key_model.len(), 3);
        assert_eq!(by_key_model[0].total_tokens, 15);
        let none = store
            .spend_totals(SpendTotalsQuery {
                group_by: vec![],
                filter: SpendLogQuery {
                    api_key: Some("nobody".into()),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}

#[tokio::test]
async fn the_store_is_usable_as_a_trait_object_from_many_tasks() {
    let db = TempDb::new("shared");
    for store in backends(&db).await {
        let store: Arc<dyn Store> = Arc::from(store);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .insert_key(key(&format!("k{i}"), None, None, i))
                    .await
                    .unwrap();
                store.get_key(format!("k{i}")).await.unwrap().is_some()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        store.ping().await.unwrap();
        assert!(
            store.location().starts_with("sqlite:") || store.location().starts_with("postgresql:")
        );
    }
}

#[tokio::test]
async fn a_temporary_store_removes_its_files() {
    let store = SqliteStore::open_temporary().unwrap();
    let dir = store.path().parent().unwrap().to_path_buf();
    store.insert_key(key("k", None, None, 1)).await.unwrap();
    assert!(store.get_key("k".into()).await.unwrap().is_some());
    assert!(dir.exists());
    drop(store);
    assert!(!dir.exists());
}

#[tokio::test]
async fn postgres_replicas_starting_at_once_migrate_once() {
    use super::postgres::{PostgresOptions, PostgresStore};
    let Some(url) = super::pg_cluster::database().await else {
        return;
    };
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let options = PostgresOptions::new(&url);
            tokio::spawn(async move { PostgresStore::connect(&options).await.map(|_| ()) })
        })
        .collect();
    for s in starts {
        s.await.unwrap().unwrap();
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query("SELECT version FROM llmswitch_migrations", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), super::pg_migrations::MIGRATIONS.len());
    // A database of an older LiteLLM that lacks a column the gateway uses fails at start,
    // naming it.
    client
        .batch_execute("ALTER TABLE \"LiteLLM_SpendLogs\" DROP COLUMN status")
        .await
        .unwrap();
    let Err(e) = PostgresStore::connect(&PostgresOptions::new(&url)).await else {
        panic!("connected to a database without LiteLLM_SpendLogs.status");
    };
    assert!(
        e.to_string().contains("\"LiteLLM_SpendLogs\".status"),
        "{e}"
    );
    assert!(!e.to_string().contains("password"), "{e}");
}

#[tokio::test]
async fn retention_deletes_old_logs_in_batches() {
    let db = TempDb::new("retention");
    for store in backends(&db).await {
        let logs: Vec<SpendLogRow> = (0..2500)
            .map(|i| log(&format!("r{i}"), "k", None, "m", 0.001, i))
            .collect();
        store
            .write_spend(SpendBatch {
                logs,
                increments: SpendIncrements::default(),
            })
            .await
            .unwrap();
        let mut batches = Vec::new();
        loop {
            let n = store.delete_spend_logs_before(2000, 1000).await.unwrap();
            batches.push(n);
            if n < 1000 {
                break;
            }
        }
        assert_eq!(batches, vec![1000, 1000, 0]);
        let left = store.spend_logs(SpendLogQuery::default()).await.unwrap();
        assert_eq!(left.len(), 500);
        assert!(left.iter().all(|l| l.start_time >= 2000));
    }
}
