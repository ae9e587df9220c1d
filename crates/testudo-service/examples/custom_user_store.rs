//! Using an application's own user table with `AuthService`: `cargo run -p testudo-service
//! --example custom_user_store --features sqlite`.
//!
//! The application's `app_users` table has columns testudo does not know (`display_name`,
//! `plan`) and names its own (`password_hash`, `active`, `email_verified`). Implementing
//! [`AuthUser`] for its model and [`UserStore`] for a small store is all `AuthService` needs;
//! the similarity validator also sees `display_name` through [`UserAttributes`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Schema, Set,
};
use testudo_config::{AuthConfig, PasswordValidatorConfig};
use testudo_core::{
    AuthUser, Claims, Error, Result, SecretString, UserAttributes, UserStore, async_trait,
};
use testudo_db::Database;
use testudo_service::{AuthService, normalize_email};

/// The application's own entity.
pub mod app_user {
    use sea_orm::entity::prelude::*;

    /// A row of `app_users`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "app_users")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// Normalised email.
        #[sea_orm(unique)]
        pub email: String,
        /// Password hash.
        pub password_hash: String,
        /// Shown in the application.
        pub display_name: String,
        /// The application's billing plan.
        pub plan: String,
        /// May log in.
        pub active: bool,
        /// Email verified.
        pub email_verified: bool,
        /// Last login.
        pub last_login: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The application's user, as `AuthService` returns it.
#[derive(Debug, Clone)]
pub struct AppUser(pub app_user::Model);

impl UserAttributes for AppUser {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "email" => Some(Cow::Borrowed(&self.0.email)),
            "display_name" => Some(Cow::Borrowed(&self.0.display_name)),
            _ => None,
        }
    }
}

impl AuthUser for AppUser {
    fn id(&self) -> String {
        self.0.id.to_string()
    }
    fn email(&self) -> &str {
        &self.0.email
    }
    fn password_hash(&self) -> &str {
        &self.0.password_hash
    }
    fn is_active(&self) -> bool {
        self.0.active
    }
    fn is_verified(&self) -> bool {
        self.0.email_verified
    }
    fn last_login(&self) -> Option<DateTime<Utc>> {
        self.0.last_login
    }
}

/// `app_users` as a [`UserStore`].
#[derive(Debug, Clone)]
pub struct AppUserStore {
    db: Database,
}

impl AppUserStore {
    /// A store on `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Creates the `app_users` table (an application would have its own migration).
    ///
    /// # Errors
    ///
    /// When the table cannot be created.
    pub async fn create_table(&self) -> Result<()> {
        let schema = Schema::new(self.db.as_sea_orm().get_database_backend());
        let stmt = schema.create_table_from_entity(app_user::Entity);
        self.db
            .as_sea_orm()
            .execute(&stmt)
            .await
            .map_err(Error::storage)?;
        Ok(())
    }

    /// Adds a user whose password the service validates (with the user's attributes, so a
    /// password like the display name is refused) and hashes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPassword`] with every message; storage errors.
    pub async fn add_user(
        &self,
        auth: &AuthService<Self>,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> Result<AppUser> {
        let email = normalize_email(email);
        let attributes = HashMap::from([
            ("email".to_owned(), email.clone()),
            ("display_name".to_owned(), display_name.to_owned()),
        ]);
        auth.validators().validate(password, Some(&attributes))?;
        let hash = auth.hasher().hash(SecretString::from(password)).await?;
        let model = app_user::ActiveModel {
            email: Set(email),
            password_hash: Set(hash),
            display_name: Set(display_name.to_owned()),
            plan: Set("free".to_owned()),
            active: Set(true),
            email_verified: Set(false),
            last_login: Set(None),
            ..Default::default()
        }
        .insert(self.db.as_sea_orm())
        .await
        .map_err(Error::storage)?;
        Ok(AppUser(model))
    }

    async fn update(
        &self,
        id: &str,
        column: app_user::Column,
        value: sea_orm::Value,
    ) -> Result<()> {
        let Ok(id) = id.parse::<i32>() else {
            return Ok(());
        };
        app_user::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(app_user::Column::Id.eq(id))
            .exec(self.db.as_sea_orm())
            .await
            .map_err(Error::storage)?;
        Ok(())
    }
}

#[async_trait]
impl UserStore for AppUserStore {
    type User = AppUser;

    async fn find_by_email(&self, normalised_email: &str) -> Result<Option<AppUser>> {
        let found = app_user::Entity::find()
            .filter(app_user::Column::Email.eq(normalised_email))
            .one(self.db.as_sea_orm())
            .await
            .map_err(Error::storage)?;
        Ok(found.map(AppUser))
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<AppUser>> {
        let Ok(id) = id.parse::<i32>() else {
            return Ok(None);
        };
        let found = app_user::Entity::find_by_id(id)
            .one(self.db.as_sea_orm())
            .await
            .map_err(Error::storage)?;
        Ok(found.map(AppUser))
    }

    async fn set_password_hash(&self, id: &str, hash: &str) -> Result<()> {
        self.update(id, app_user::Column::PasswordHash, hash.into())
            .await
    }

    async fn record_login(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.update(id, app_user::Column::LastLogin, Some(at).into())
            .await
    }

    async fn mark_verified(&self, id: &str) -> Result<()> {
        self.update(id, app_user::Column::EmailVerified, true.into())
            .await
    }
}

/// The default validators, with the similarity check also comparing against `display_name`.
pub fn validators() -> Vec<PasswordValidatorConfig> {
    let mut list = PasswordValidatorConfig::defaults();
    list.retain(|v| !matches!(v, PasswordValidatorConfig::UserAttributeSimilarity { .. }));
    list.push(PasswordValidatorConfig::UserAttributeSimilarity {
        user_attributes: vec!["email".to_owned(), "display_name".to_owned()],
        max_similarity: 0.7,
    });
    list
}

/// Builds a service on `db` (which must hold testudo's tables, for the tokens) with
/// `app_users` as its users.
///
/// # Errors
///
/// As `AuthServiceBuilder::build`.
pub fn service(config: Arc<AuthConfig>, db: Database) -> Result<AuthService<AppUserStore>> {
    AuthService::builder(config, AppUserStore::new(db.clone()))
        .database(db)
        .build()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let config = Arc::new(
        AuthConfig::builder()
            .password_validators(validators())
            .build()?,
    );
    let db = Database::connect("sqlite::memory:").await?;
    db.migrate().await?;
    let auth = service(config, db)?;
    auth.store().create_table().await?;
    say("app_users created next to testudo's tables");

    if let Err(e) = auth
        .store()
        .add_user(&auth, "mia@example.com", "Mia Wallace", "miawallace")
        .await
    {
        say(&format!("a password like the display name is refused: {e}"));
    }
    let mia = auth
        .store()
        .add_user(
            &auth,
            "mia@example.com",
            "Mia Wallace",
            "a long and rare passphrase",
        )
        .await?;
    say(&format!(
        "added {} on plan {}",
        mia.0.display_name, mia.0.plan
    ));

    let login = auth
        .login(
            "Mia@Example.com",
            "a long and rare passphrase",
            Claims::new(),
        )
        .await?;
    let me = auth.authenticate(login.access_token()).await?;
    say(&format!(
        "logged in and authenticated {} ({}), last login {:?}",
        me.0.display_name, me.0.email, me.0.last_login
    ));
    Ok(())
}

#[expect(clippy::print_stdout, reason = "an example prints what it does")]
fn say(line: &str) {
    println!("{line}");
}
