//! `Database` on every test database: migrate, classify real driver errors, serialize per user.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, TransactionTrait};
use testudo_db::{Database, Dialect, ErrorKind, PoolOptions, retrying};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use tokio::sync::Barrier;

#[tokio::test]
async fn connect_migrate_and_same_pool_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let db = Database::connect(&url).await?;
    assert_eq!(db.dialect(), Dialect::Sqlite);
    db.migrate().await?;
    db.migrate().await?; // idempotent
    let other = Database::connect(&url).await?;
    assert!(db.same_pool(&db.clone()));
    assert!(!db.same_pool(&other));
    let wrapped = Database::from_sea_orm(db.as_sea_orm().clone());
    assert!(
        !wrapped.same_pool(&db),
        "separately wrapped handles are distinct"
    );
    assert!(!format!("{db:?}").contains(".db"), "Debug shows no URL");
    other.close().await?;
    db.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_disconnected_sea_orm_handle_is_wrapped_without_panicking() -> TestResult {
    let db = Database::from_sea_orm(sea_orm::DatabaseConnection::default());
    let e = db
        .migrate()
        .await
        .err()
        .ok_or("migrated a disconnected handle")?;
    assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{e:?}");
    let e = db
        .begin_for_user("u")
        .await
        .err()
        .ok_or("began on a disconnected handle")?;
    assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{e:?}");
    assert!(db.begin().await.is_err());
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_a_lost_connection() -> TestResult {
    // Nothing listens on port 1 of the loopback address.
    let options = PoolOptions::default().acquire_timeout(Duration::from_secs(2));
    let e = Database::connect_with("postgres://nobody@127.0.0.1:1/none", &options)
        .await
        .err()
        .ok_or("connected to nothing")?;
    assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{e:?}");
    Ok(())
}

async fn duplicate_keys_are_unique_violations_on_every_database(b: Backend) -> TestResult {
    let name = b.name();
    let t = TestDb::new(b).await?;
    let db = t.db();
    let insert = "INSERT INTO testudo_user_locks (user_id) VALUES ('u1')";
    db.as_sea_orm().execute_unprepared(insert).await?;
    let e = testudo_db::Error::from(
        db.as_sea_orm()
            .execute_unprepared(insert)
            .await
            .err()
            .ok_or("duplicate accepted")?,
    );
    assert_eq!(e.kind(), ErrorKind::UniqueViolation, "{name}: {e:?}");
    let e = testudo_db::Error::from(
        db.as_sea_orm()
            .execute_unprepared("SELECT * FROM no_such_table")
            .await
            .err()
            .ok_or("query on a missing table")?,
    );
    assert_eq!(e.kind(), ErrorKind::Other, "{name}: {e:?}");
    t.cleanup().await?;
    Ok(())
}
per_database!(duplicate_keys_are_unique_violations_on_every_database);

async fn update(txn: sea_orm::DatabaseTransaction, id: i32) -> Result<(), sea_orm::DbErr> {
    let sql = format!("UPDATE testudo_probe SET v = 2 WHERE id = {id}");
    match txn.execute_unprepared(&sql).await {
        Ok(_) => txn.commit().await,
        Err(e) => {
            let _ = txn.rollback().await;
            Err(e)
        }
    }
}

/// Two transactions locking two rows in opposite orders: the server aborts one, and that error
/// is classified transient (so `retrying` would run it again).
async fn real_deadlocks_are_transient(b: Backend) -> TestResult {
    let name = b.name();
    let t = TestDb::with_pool(b, 2).await?;
    let c = t.conn();
    c.execute_unprepared("CREATE TABLE testudo_probe (id INT PRIMARY KEY, v INT NOT NULL)")
        .await?;
    c.execute_unprepared("INSERT INTO testudo_probe (id, v) VALUES (1, 0), (2, 0)")
        .await?;
    let first = c.begin().await?;
    let second = c.begin().await?;
    first
        .execute_unprepared("UPDATE testudo_probe SET v = 1 WHERE id = 1")
        .await?;
    second
        .execute_unprepared("UPDATE testudo_probe SET v = 1 WHERE id = 2")
        .await?;
    let (a, b) = tokio::join!(update(first, 2), update(second, 1));
    let errors: Vec<testudo_db::Error> = [a, b]
        .into_iter()
        .filter_map(Result::err)
        .map(testudo_db::Error::from)
        .collect();
    assert_eq!(errors.len(), 1, "{name}: {errors:?}");
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::Transient, "{name}: {e:?}");
    }
    t.cleanup().await?;
    Ok(())
}
per_database!(real_deadlocks_are_transient, servers_only);

/// The worst interleaving for a per-user lock: the second transaction of the same user starts
/// while the first holds the lock and has read a counter. With the lock, the second waits and
/// reads the first's write; without it, both would read 0 and one increment would be lost.
async fn begin_for_user_serializes_one_users_transactions(b: Backend) -> TestResult {
    let name = b.name();
    let t = TestDb::with_pool(b, 4).await?;
    let db = t.db().clone();
    db.as_sea_orm()
        .execute_unprepared("CREATE TABLE testudo_probe (id INT PRIMARY KEY, v INT NOT NULL)")
        .await?;
    db.as_sea_orm()
        .execute_unprepared("INSERT INTO testudo_probe (id, v) VALUES (1, 0)")
        .await?;
    let first_locked = Arc::new(Barrier::new(2));
    let first = {
        let db = db.clone();
        let first_locked = Arc::clone(&first_locked);
        tokio::spawn(async move {
            let txn = db.begin_for_user("alice").await?;
            let v = read(&txn).await?;
            first_locked.wait().await;
            // Hold the lock while the second transaction tries to take it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            write(&txn, v + 1).await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(())
        })
    };
    first_locked.wait().await;
    let second = retrying(|| async {
        let txn = db.begin_for_user("alice").await?;
        let v = read(&txn).await?;
        write(&txn, v + 1).await?;
        txn.commit().await?;
        Ok::<_, testudo_db::Error>(())
    });
    let (a, b) = tokio::join!(first, second);
    a??;
    b?;
    let txn = db.begin().await?;
    assert_eq!(read(&txn).await?, 2, "{name}: an increment was lost");
    txn.commit().await?;
    t.cleanup().await?;
    Ok(())
}
per_database!(
    begin_for_user_serializes_one_users_transactions,
    sqlite_file
);

/// Other users are not held up by a user's lock (except on SQLite, one writer at a time).
async fn begin_for_user_does_not_block_other_users_on_servers(b: Backend) -> TestResult {
    let name = b.name();
    let t = TestDb::with_pool(b, 4).await?;
    let db = t.db();
    let alice = db.begin_for_user("alice").await?;
    let bob = tokio::time::timeout(Duration::from_secs(5), db.begin_for_user("bob"))
        .await
        .map_err(|_| format!("{name}: bob waited for alice's lock"))??;
    bob.commit().await?;
    alice.commit().await?;
    t.cleanup().await?;
    Ok(())
}
per_database!(
    begin_for_user_does_not_block_other_users_on_servers,
    servers_only
);

async fn read(txn: &sea_orm::DatabaseTransaction) -> Result<i64, testudo_db::Error> {
    let row = txn
        .query_one_raw(sea_orm::Statement::from_string(
            txn.get_database_backend(),
            "SELECT v FROM testudo_probe WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| testudo_db::Error::unexpected("probe row missing"))?;
    Ok(row.try_get_by_index::<i32>(0).map(i64::from)?)
}

async fn write(txn: &sea_orm::DatabaseTransaction, v: i64) -> Result<(), testudo_db::Error> {
    txn.execute_unprepared(&format!("UPDATE testudo_probe SET v = {v} WHERE id = 1"))
        .await?;
    Ok(())
}
