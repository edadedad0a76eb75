//! `csm model train|evaluate|list`: classification's text models from a labelled file. Training
//! runs as a job: the examples go in parts (`AddTrainingExamples`), the job is started and waited
//! on with a spinner, and the new models are scored on the part of the file held out from training,
//! so the metrics printed are on texts the model has not seen.

mod labelled;
mod tables;

use std::{path::PathBuf, time::Duration};

use csm_proto::classification::v1::{
    AddTrainingExamplesRequest, CreateTrainingJobRequest, EvaluateTextModelsRequest, GetTaxonomyRequest, LabelledText,
    ListTextModelsRequest, StartTrainingJobRequest, TrainTextModelsRequest, TrainingJob, TrainingJobState,
    WaitTrainingJobRequest, create_training_job_request::Training,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    connect::{Connection, Endpoint},
    output::{self, Out, Outcome},
    rows::Format,
    schema,
};

type Client = csm_proto::classification::v1::classification_service_client::ClassificationServiceClient<
    crate::clients::Authenticated,
>;

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Train text models from labelled texts, wait for the job, and print the metrics.
    Train(TrainArgs),
    /// Score text models (those in force by default) on labelled texts.
    Evaluate {
        /// Labelled texts: CSV or JSON lines with text and leaf (and view), or text and one column per view.
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// The view of a text,leaf file [default: the routing view of the taxonomy in force].
        #[arg(long)]
        view: Option<String>,
        /// "textModels/{id}" to score; repeat for several. The models in force when omitted.
        #[arg(long = "model", value_name = "NAME")]
        models: Vec<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the stored text models, newest first.
    List {
        /// Only this view's models.
        #[arg(long)]
        view: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled texts: CSV or JSON lines with text and leaf (and view), or text and one column per view.
    pub file: PathBuf,
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The view of a text,leaf file [default: the routing view of the taxonomy in force].
    #[arg(long)]
    pub view: Option<String>,
    /// Share of the file held out of training and scored afterwards; 0 trains on all of it.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Put the new models in force when trained.
    #[arg(long)]
    pub activate: bool,
    /// Also learn from the corrections agents made.
    #[arg(long)]
    pub include_corrections: bool,
    /// "taxonomies/{key}/versions/{n}" whose leaves the file uses [default: the one in force].
    #[arg(long)]
    pub taxonomy_version: Option<String>,
    /// Examples sent per AddTrainingExamples call.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub part_size: u32,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

pub async fn run(command: ModelCommand, out: Out<'_>) -> anyhow::Result<Outcome> {
    match command {
        ModelCommand::Train(args) => train(args, out).await?,
        ModelCommand::Evaluate { file, format, view, models, json, connection } => {
            let (mut client, endpoint) = connection.connect()?.classification()?;
            let examples = read(&mut client, &endpoint, &file, format, view, "").await?;
            let evaluations = evaluate(&mut client, &endpoint, examples, models).await?;
            if json {
                output::json(out, &schema::to_json(&evaluations)?)?;
            } else {
                tables::evaluations(out, &evaluations.evaluations)?;
            }
        }
        ModelCommand::List { view, json, connection } => {
            let (mut client, endpoint) = connection.connect()?.classification()?;
            let request = ListTextModelsRequest { view: view.unwrap_or_default() };
            let listed =
                client.list_text_models(request).await.map_err(|s| endpoint.error("ListTextModels", &s))?.into_inner();
            if json {
                output::json(out, &schema::to_json(&listed)?)?;
            } else {
                writeln!(out, "{}", tables::models(&listed.text_models))?;
            }
        }
    }
    Ok(Outcome::Done)
}

/// The labelled texts of `file`, with the routing view of the taxonomy standing in for a missing
/// view column.
async fn read(
    client: &mut Client,
    endpoint: &Endpoint,
    file: &std::path::Path,
    format: Option<Format>,
    view: Option<String>,
    taxonomy_version: &str,
) -> anyhow::Result<Vec<LabelledText>> {
    let view = match view {
        Some(view) => view,
        None if labelled::needs_view(file, format)? => {
            let request = GetTaxonomyRequest { name: taxonomy_version.to_string() };
            let taxonomy =
                client.get_taxonomy(request).await.map_err(|s| endpoint.error("GetTaxonomy", &s))?.into_inner();
            taxonomy.views.iter().find(|v| v.routing).map(|v| v.key.clone()).unwrap_or_default()
        }
        None => String::new(),
    };
    labelled::read(file, format, &view)
}

async fn evaluate(
    client: &mut Client,
    endpoint: &Endpoint,
    examples: Vec<LabelledText>,
    text_models: Vec<String>,
) -> anyhow::Result<csm_proto::classification::v1::EvaluateTextModelsResponse> {
    let request = EvaluateTextModelsRequest { examples, text_models };
    Ok(client.evaluate_text_models(request).await.map_err(|s| endpoint.error("EvaluateTextModels", &s))?.into_inner())
}

async fn train(args: TrainArgs, out: Out<'_>) -> anyhow::Result<()> {
    if !(0.0..0.9).contains(&args.holdout) {
        anyhow::bail!("--holdout {}: give a share from 0 up to 0.9", args.holdout);
    }
    let (mut client, endpoint) = args.connection.connect()?.classification()?;
    let version = args.taxonomy_version.clone().unwrap_or_default();
    let examples = read(&mut client, &endpoint, &args.file, args.format, args.view.clone(), &version).await?;
    let (training, held_out) = labelled::split(examples, args.holdout);
    let job = submit(&mut client, &endpoint, &args, training).await?;
    let job = wait(&mut client, &endpoint, job).await?;
    let trained: Vec<String> = job.trained_text_models.iter().map(|m| m.name.clone()).collect();
    let evaluations = if held_out.is_empty() {
        None
    } else {
        Some(evaluate(&mut client, &endpoint, held_out, trained.clone()).await?)
    };
    if args.json {
        let mut value = serde_json::json!({ "trainingJob": schema::to_json(&job)? });
        if let Some(evaluations) = &evaluations {
            value["evaluations"] = schema::to_json(evaluations)?["evaluations"].clone();
        }
        return output::json(out, &value);
    }
    let state =
        if job.activated { "in force" } else { "stored, not in force (csm model list; activate with --activate)" };
    writeln!(out, "{} trained {} models on {} examples: {state}", job.name, trained.len(), job.examples)?;
    writeln!(out, "{}", tables::models(&job.trained_text_models))?;
    match &evaluations {
        Some(evaluations) => {
            writeln!(out, "\nscored on the {} held-out texts of {}:", held_count(evaluations), args.file.display())?;
            tables::evaluations(out, &evaluations.evaluations)?;
        }
        None => writeln!(out, "nothing held out (--holdout 0): score the models with `csm model evaluate`")?,
    }
    Ok(())
}

fn held_count(evaluations: &csm_proto::classification::v1::EvaluateTextModelsResponse) -> i64 {
    evaluations.evaluations.iter().map(|e| e.examples).max().unwrap_or(0)
}

/// Creates the job, sends the examples in parts, and starts it.
async fn submit(
    client: &mut Client,
    endpoint: &Endpoint,
    args: &TrainArgs,
    examples: Vec<LabelledText>,
) -> anyhow::Result<TrainingJob> {
    let text_models = TrainTextModelsRequest {
        include_corrections: args.include_corrections,
        activate: args.activate,
        taxonomy_version: args.taxonomy_version.clone().unwrap_or_default(),
        ..TrainTextModelsRequest::default()
    };
    let request = CreateTrainingJobRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        training: Some(Training::TextModels(text_models)),
        collect_examples: true,
    };
    let job =
        client.create_training_job(request).await.map_err(|s| endpoint.error("CreateTrainingJob", &s))?.into_inner();
    let progress = ProgressBar::new(examples.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("sending examples [{bar:32}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    for part in examples.chunks(args.part_size as usize) {
        let request = AddTrainingExamplesRequest {
            name: job.name.clone(),
            text_examples: part.to_vec(),
            ..AddTrainingExamplesRequest::default()
        };
        client.add_training_examples(request).await.map_err(|s| endpoint.error("AddTrainingExamples", &s))?;
        progress.inc(part.len() as u64);
    }
    progress.finish_and_clear();
    let request = StartTrainingJobRequest { name: job.name.clone() };
    Ok(client.start_training_job(request).await.map_err(|s| endpoint.error("StartTrainingJob", &s))?.into_inner())
}

/// Waits for the job to end, showing its state; a failed or cancelled job is an error.
async fn wait(client: &mut Client, endpoint: &Endpoint, mut job: TrainingJob) -> anyhow::Result<TrainingJob> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    loop {
        let state = job.state();
        spinner.set_message(format!("{} {}", job.name, schema::TRAINING_STATE.short(state as i32)));
        match state {
            TrainingJobState::Succeeded => break,
            TrainingJobState::Failed | TrainingJobState::Cancelled => {
                spinner.finish_and_clear();
                anyhow::bail!("{} {}: {}", job.name, schema::TRAINING_STATE.short(state as i32), job.error);
            }
            _ => {}
        }
        let request = WaitTrainingJobRequest {
            name: job.name.clone(),
            timeout: Some(prost_types::Duration { seconds: 2, nanos: 0 }),
        };
        job = client.wait_training_job(request).await.map_err(|s| endpoint.error("WaitTrainingJob", &s))?.into_inner();
    }
    spinner.finish_and_clear();
    Ok(job)
}
