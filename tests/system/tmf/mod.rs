//! The TM Forum adapter driven as an operator's CRM, OSS or network operations centre would: over
//! HTTP with JSON, with listeners that receive its notifications.

mod hub;
mod problems;
mod tickets;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{TestSystem, eventually};

pub const V4: &str = "/tmf-api/troubleTicket/v4";
pub const PROBLEMS: &str = "/tmf-api/serviceProblemManagement/v4";

/// An HTTP client of one adapter, acting as `subject`.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    origin: String,
    token: String,
}

impl Rest {
    pub fn of(t: &TestSystem, subject: &str) -> Self {
        Self::at(t.system.addresses.tmf, t.token(subject))
    }

    pub fn at(address: SocketAddr, token: &str) -> Self {
        Self { http: reqwest::Client::new(), origin: format!("http://{address}"), token: token.to_string() }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.origin));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the adapter answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }
}

/// A complaint as a CRM raises it through TMF621, for the customer `phone`.
pub fn ticket(phone: &str, description: &str, external_id: &str) -> Value {
    serde_json::json!({
        "description": description,
        "severity": "Major",
        "ticketType": "complaint",
        "externalId": external_id,
        "channel": { "id": "hotline_agent" },
        "relatedParty": [{ "id": phone, "role": "customer", "@referredType": "Individual" }],
        "note": [{ "author": "crm-agent-7", "text": "客户来电，情绪激动 / the customer called, upset" }],
    })
}

/// Waits until the ticket's case is dispatched (the ticket names its case) and returns the ticket.
pub async fn dispatched(rest: &Rest, id: &str) -> Value {
    eventually("the ticket's case dispatched", Duration::from_secs(30), || async move {
        let (status, ticket) = rest.get(&format!("{V4}/troubleTicket/{id}")).await;
        (status == StatusCode::OK && ticket["relatedEntity"].is_array()).then_some(ticket)
    })
    .await
}

/// A listener's callback: records every notification posted to it, in order.
#[derive(Clone, Default)]
pub struct Listener {
    pub received: Arc<Mutex<Vec<Value>>>,
}

impl Listener {
    /// Listens on `address` (port 0 for any) until the test ends; returns where.
    pub async fn serve(&self, address: SocketAddr) -> SocketAddr {
        let app = Router::new()
            .route(
                "/listener",
                post(|State(me): State<Listener>, Json(event): Json<Value>| async move {
                    me.received.lock().unwrap().push(event);
                    StatusCode::CREATED
                }),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(address).await.expect("listener binds");
        let bound = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        bound
    }

    /// (eventType, status) of every notification so far.
    pub fn seen(&self) -> Vec<(String, String)> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|event| {
                let kind = event["eventType"].as_str().unwrap_or_default().to_string();
                let status = event["event"]["troubleTicket"]["status"].as_str().unwrap_or_default().to_string();
                (kind, status)
            })
            .collect()
    }

    /// Waits until `count` notifications arrived.
    pub async fn until(&self, count: usize) -> Vec<(String, String)> {
        eventually(&format!("{count} notifications"), Duration::from_secs(30), || async move {
            let seen = self.seen();
            (seen.len() >= count).then_some(seen)
        })
        .await
    }
}
