//! A minimal browser stand-in for the admin console (`/admin`) over plain HTTP: signs in through
//! the real form (login token cookie and field), keeps the session cookie, and sends forms with
//! the session's CSRF token read from a rendered page. The browser tests drive real Chromium; these
//! helpers make the many permission and hostile-input checks cheap.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;

use crate::{Resp, TestApp};

/// A signed-in (or not) console client.
pub struct Console<'a> {
    pub app: &'a TestApp,
    /// `router_admin_session=<token>` once signed in.
    pub cookie: Option<String>,
    /// The session's CSRF token, read from a page after sign-in.
    pub csrf: Option<String>,
}

/// The value of a `Set-Cookie` for `name`, with its attributes.
#[must_use]
pub fn set_cookie<'r>(r: &'r Resp, name: &str) -> Option<&'r str> {
    r.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with(&format!("{name}=")))
}

/// `value` of the first `<input name="{name}" value="...">` in a page.
#[must_use]
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_owned())
}

async fn resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, headers, text, json }
}

impl<'a> Console<'a> {
    /// A client without a session.
    #[must_use]
    pub fn anonymous(app: &'a TestApp) -> Self {
        Self { app, cookie: None, csrf: None }
    }

    /// Runs the sign-in form with `key`; returns the answer (303 on success) and keeps the session.
    pub async fn try_sign_in(&mut self, key: &str) -> Resp {
        let page =
            resp(self.app.client.get(format!("{}/admin/login", self.app.base)).send().await.expect("login page")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let login_cookie = set_cookie(&page, "router_admin_login").expect("login cookie");
        let login_cookie = login_cookie.split(';').next().unwrap().to_owned();
        let token = input_value(&page.text, "login_token").expect("login token field");
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("login_token", &token)
            .append_pair("key", key)
            .finish();
        let r = resp(
            self.app
                .client
                .post(format!("{}/admin/login", self.app.base))
                .header(COOKIE, login_cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("login post"),
        )
        .await;
        if let Some(c) = set_cookie(&r, "router_admin_session") {
            self.cookie = Some(c.split(';').next().unwrap().to_owned());
            let home = self.get("/admin").await;
            self.csrf = input_value(&home.text, "csrf");
        }
        r
    }

    /// Signs in with `key`, asserting success.
    pub async fn sign_in(app: &'a TestApp, key: &str) -> Self {
        let mut c = Self::anonymous(app);
        let r = c.try_sign_in(key).await;
        assert_eq!(r.status, 303, "sign-in failed: {}", r.text);
        assert!(c.cookie.is_some() && c.csrf.is_some(), "session cookie and CSRF token");
        c
    }

    /// GET with the session cookie (if any).
    pub async fn get(&self, path: &str) -> Resp {
        let mut r = self.app.client.get(format!("{}{path}", self.app.base));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        resp(r.send().await.expect("get")).await
    }

    /// POST a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        if let Some(t) = &self.csrf {
            ser.append_pair("csrf", t);
        }
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        self.post_raw(path, ser.finish()).await
    }

    /// POST a raw URL-encoded body (no CSRF token added).
    pub async fn post_raw(&self, path: &str, body: String) -> Resp {
        let mut r = self
            .app
            .client
            .post(format!("{}{path}", self.app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        resp(r.send().await.expect("post")).await
    }
}
