//! The console's actions over HTTP, each checked on the rows it changes and on the audit log's
//! `console` surface: queue pause and resume, task pause, resume and trigger, retry one, retry all of
//! a handler, cancel; a refused action's error; the session and CSRF rules. The browser tests
//! (tests/it/console_browser.rs) click through the same pages in Chromium.

use crate::common;

use common::{scalar, test_db, TestDb};
use pgtide::{http::ApiState, web::App, Database, NewJob};
use reqwest::{header, redirect::Policy, StatusCode};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "console-token";

struct Console {
    base: String,
    http: reqwest::Client,
    cookie: String,
    _stop: tokio_util::sync::DropGuard,
}

impl Console {
    /// Serves the API and the console on `t`, and logs in.
    async fn start(t: &TestDb) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = App::new(ApiState::new(
            Database::connect_as(&t.url, 2, "pgtide-http").unwrap(),
            Some(TOKEN.into()),
            None,
        ))
        .with_console(pgtide::console::Console::new(
            Database::connect_as(&t.url, 2, "pgtide-console").unwrap(),
            Some(TOKEN),
        ));
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move { pgtide::web::serve(listener, app, stop).await.unwrap() }
        });
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let login = http
            .post(format!("{base}/login"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string([("token", TOKEN), ("next", "/")]).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let set_cookie = login.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        Self {
            base,
            http,
            cookie,
            _stop: stop.drop_guard(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The CSRF token the console's forms carry.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        let at = page
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        page[at..at + 64].to_string()
    }

    /// Posts an action form; returns the status and the Location it redirects to.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (response.status(), location)
    }

    async fn act(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let csrf = self.csrf().await;
        let mut fields = vec![("csrf", csrf.as_str()), ("back", "/somewhere?x=1")];
        fields.extend_from_slice(extra);
        let (status, location) = self.post(path, &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert!(location.starts_with("/somewhere?x=1&"), "{location}");
        location
    }
}

async fn audited(t: &TestDb, action: &str, object: &str) -> i64 {
    t.client()
        .await
        .unwrap()
        .query_one(
            "select count(*) from pgtide.audit_log where surface = 'console' and action = $1 and object_id = $2",
            &[&action, &object],
        )
        .await
        .unwrap()
        .get(0)
}

async fn dead(t: &TestDb, handler: &str, key: &str) -> i64 {
    let id = pgtide::enqueue(t, &NewJob::new(handler).idempotency_key(key))
        .await
        .unwrap();
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.executions set status = 'dead', finished_at = now(), error = 'boom' where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_changes_its_rows_and_is_audited_as_console() {
    let t = test_db().await;
    let c = Console::start(&t).await;
    t.client()
        .await
        .unwrap()
        .execute(
            "select pgtide.create_task('hourly', 'noop', cron => '0 * * * *')",
            &[],
        )
        .await
        .unwrap();

    let done = c.act("/queues/mail/pause", &[]).await;
    assert!(done.contains("flash=Paused+queue+mail."), "{done}");
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues where name = 'mail' and paused"
        )
        .await,
        1
    );
    c.act("/queues/mail/resume", &[]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues where name = 'mail' and paused"
        )
        .await,
        0
    );
    assert_eq!(audited(&t, "queue.pause", "mail").await, 1);
    assert_eq!(audited(&t, "queue.resume", "mail").await, 1);

    c.act("/tasks/hourly/pause", &[]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.tasks where status = 'paused'"
        )
        .await,
        1
    );
    c.act("/tasks/hourly/resume", &[]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.tasks where status = 'active'"
        )
        .await,
        1
    );
    c.act("/tasks/hourly/trigger", &[]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where idempotency_key like 'task:%:manual:%'"
        )
        .await,
        1
    );
    for action in ["task.pause", "task.resume", "task.trigger"] {
        assert_eq!(audited(&t, action, "hourly").await, 1, "{action}");
    }

    let one = dead(&t, "send", "d1").await;
    let (two, three) = (dead(&t, "send", "d2").await, dead(&t, "send", "d3").await);
    let other = dead(&t, "report", "d4").await;
    c.act(&format!("/executions/{one}/retry"), &[]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where idempotency_key = 'd1:requeued'"
        )
        .await,
        1
    );
    let done = c
        .act("/dead-letters/retry-all", &[("handler", "send")])
        .await;
    assert!(done.contains("Requeued+2+dead+letter"), "{done}");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions where idempotency_key in ('d2:requeued', 'd3:requeued')").await,
        2
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.dead_letters").await,
        1,
        "report's stays"
    );
    for id in [one, two, three] {
        assert_eq!(
            audited(&t, "execution.retry_dead", &id.to_string()).await,
            1
        );
    }
    assert_eq!(
        audited(&t, "execution.retry_dead", &other.to_string()).await,
        0
    );

    let queued = pgtide::enqueue(&t, &NewJob::new("noop").idempotency_key("q"))
        .await
        .unwrap();
    c.act(&format!("/executions/{queued}/cancel"), &[]).await;
    assert_eq!(common::status_of(&t, queued).await, "cancelled");
    assert_eq!(
        audited(&t, "execution.cancel", &queued.to_string()).await,
        1
    );

    // A refused action: its SQL function's error comes back in the banner, and nothing changes.
    let refused = c.act(&format!("/executions/{queued}/retry"), &[]).await;
    assert!(refused.contains("&error="), "{refused}");
    assert_eq!(common::status_of(&t, queued).await, "cancelled");
    let (status, page) = c.get(&refused.replacen("/somewhere", "/", 1)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("banner error"), "{page}");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log where surface = 'console' and application_name <> 'pgtide-console'").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_csrf_tokens_guard_every_change() {
    let t = test_db().await;
    let c = Console::start(&t).await;
    // Without the session: pages redirect to the login form, actions are refused.
    let anonymous = c
        .http
        .get(format!("{}/workers", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.headers()[header::LOCATION],
        "/login?next=%2Fworkers"
    );
    let csrf = c.csrf().await;
    let stranger = c
        .http
        .post(format!("{}/queues/default/pause", c.base))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    // With the session but a missing, wrong or another session's token: 403.
    for fields in [vec![], vec![("csrf", "f".repeat(64))]] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _) = c.post("/queues/default/pause", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let other = Console::start(&t).await;
    let (status, _) = c
        .post(
            "/queues/default/pause",
            &[("csrf", other.csrf().await.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(scalar(&t, "select count(*) from pgtide.queues").await, 0);
    assert_eq!(scalar(&t, "select count(*) from pgtide.audit_log").await, 0);
    // A wrong token logs nobody in; a redirect never leaves the site.
    let wrong = c
        .http
        .post(format!("{}/login", c.base))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", "nope"), ("next", "/")]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    let csrf = c.csrf().await;
    let (_, location) = c
        .post(
            "/queues/default/pause",
            &[("csrf", csrf.as_str()), ("back", "//evil.example/")],
        )
        .await;
    assert!(location.starts_with("/?flash="), "{location}");
    // Pages carry the security headers.
    let page = c
        .http
        .get(format!("{}/", c.base))
        .header(header::COOKIE, &c.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert!(page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_page_shows_limits_and_top_keys_and_its_forms_change_them() {
    let t = test_db().await;
    for (key, n) in [("acme", 3), ("globex", 1)] {
        for _ in 0..n {
            pgtide::enqueue(
                &t,
                &NewJob::new("noop").queue("shared").concurrency_key(key),
            )
            .await
            .unwrap();
        }
    }
    let c = Console::start(&t).await;
    let (status, overview) = c.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        overview.contains("href=\"/queues/shared\""),
        "the overview links the queue page"
    );

    let done = c
        .act(
            "/queues/shared/key-limit",
            &[("concurrency_limit", "2"), ("concurrency_key", "")],
        )
        .await;
    assert!(done.contains("flash=Queue+shared+runs+at+most+2"), "{done}");
    c.act(
        "/queues/shared/key-limit",
        &[("concurrency_limit", "5"), ("concurrency_key", "acme")],
    )
    .await;
    let done = c
        .act(
            "/queues/shared/rate-limit",
            &[("max_starts", "12"), ("per", "1m"), ("per_key", "on")],
        )
        .await;
    assert!(
        done.contains("flash=Queue+shared+starts+at+most+12"),
        "{done}"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues
              where name = 'shared' and key_concurrency_limit = 2 and rate_max_starts = 12
                and rate_per = interval '1 minute' and rate_per_key"
        )
        .await,
        1
    );
    assert_eq!(audited(&t, "queue.key_limit", "shared").await, 2);
    assert_eq!(audited(&t, "queue.rate_limit", "shared").await, 1);

    let (status, page) = c.get("/queues/shared").await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "2 per key",
        "1 key with their own",
        "12 starts per 00:01:00 for each key",
    ] {
        assert!(page.contains(shown), "the page shows {shown:?}:\n{page}");
    }
    let acme = page.find("data-key=\"acme\"").expect("acme's row");
    let globex = page.find("data-key=\"globex\"").expect("globex's row");
    assert!(acme < globex, "the key with the most waiting comes first");
    assert!(
        page.contains("action=\"/queues/shared/key-limit\""),
        "{page}"
    );
    assert!(
        page.contains("action=\"/queues/shared/rate-limit\""),
        "{page}"
    );

    // A bad value comes back as an error banner and changes nothing.
    let refused = c
        .act("/queues/shared/key-limit", &[("concurrency_limit", "two")])
        .await;
    assert!(
        refused.contains("error=") && refused.contains("concurrency_limit"),
        "{refused}"
    );
    let refused = c
        .act(
            "/queues/shared/rate-limit",
            &[("max_starts", "5"), ("per", "soon")],
        )
        .await;
    assert!(
        refused.contains("error=") && refused.contains("per"),
        "{refused}"
    );
    assert_eq!(audited(&t, "queue.key_limit", "shared").await, 2);

    // Empty limits remove them.
    c.act("/queues/shared/key-limit", &[("concurrency_limit", "")])
        .await;
    c.act("/queues/shared/rate-limit", &[("max_starts", "")])
        .await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues
              where name = 'shared' and key_concurrency_limit is null and rate_max_starts is null"
        )
        .await,
        1
    );
    let (status, _) = c.get("/queues/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
