//! The host table against each host's documentation: every row parses and cites its docs,
//! and a sample call to every provider resolves to the documented URL and auth header.

use std::collections::{HashMap, HashSet};

use reqwest::Url;

use super::*;
use crate::types::{EmbeddingRequest, Message};

struct Case {
    provider: &'static str,
    model: &'static str,
    env: &'static [(&'static str, &'static str)],
    api_base: Option<&'static str>,
    url: &'static str,
    auth: (&'static str, &'static str),
}

const BEARER: (&str, &str) = ("authorization", "Bearer k");

#[allow(clippy::too_many_arguments)]
const fn case(
    provider: &'static str,
    model: &'static str,
    env: &'static [(&'static str, &'static str)],
    api_base: Option<&'static str>,
    url: &'static str,
    auth: (&'static str, &'static str),
) -> Case {
    Case {
        provider,
        model,
        env,
        api_base,
        url,
        auth,
    }
}

// (provider, model, environment, api_base=, expected URL, expected auth header and value).
// Written from each host's documentation, not from the table: the test checks the table
// against them. Keys are "k" unless the host documents another scheme.
#[rustfmt::skip]
const CASES: &[Case] = &[
    case( "openai", "gpt-4o", &[("OPENAI_API_KEY", "k")], None, "https://api.openai.com/v1/chat/completions", BEARER, ),
    case( "custom_openai", "gpt-4o", &[("OPENAI_API_KEY", "k")], None, "https://api.openai.com/v1/chat/completions", BEARER, ),
    case( "aiohttp_openai", "gpt-4o", &[("OPENAI_API_KEY", "k")], None, "https://api.openai.com/v1/chat/completions", BEARER, ),
    case( "groq", "llama-3.3-70b-versatile", &[("GROQ_API_KEY", "k")], None, "https://api.groq.com/openai/v1/chat/completions", BEARER, ),
    case( "together_ai", "meta-llama/Llama-3-8b-chat-hf", &[("TOGETHERAI_API_KEY", "k")], None, "https://api.together.xyz/v1/chat/completions", BEARER, ),
    case( "deepseek", "deepseek-chat", &[("DEEPSEEK_API_KEY", "k")], None, "https://api.deepseek.com/v1/chat/completions", BEARER, ),
    case( "fireworks_ai", "llama-v3p1-8b-instruct", &[("FIREWORKS_AI_API_KEY", "k")], None, "https://api.fireworks.ai/inference/v1/chat/completions", BEARER, ),
    case( "openrouter", "openai/gpt-4o", &[("OPENROUTER_API_KEY", "k")], None, "https://openrouter.ai/api/v1/chat/completions", BEARER, ),
    case( "perplexity", "sonar", &[("PERPLEXITYAI_API_KEY", "k")], None, "https://api.perplexity.ai/chat/completions", BEARER, ),
    case( "xai", "grok-4", &[("XAI_API_KEY", "k")], None, "https://api.x.ai/v1/chat/completions", BEARER, ),
    case( "deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct", &[("DEEPINFRA_API_KEY", "k")], None, "https://api.deepinfra.com/v1/openai/chat/completions", BEARER, ),
    case( "cerebras", "llama3.1-8b", &[("CEREBRAS_API_KEY", "k")], None, "https://api.cerebras.ai/v1/chat/completions", BEARER, ),
    case( "sambanova", "Meta-Llama-3.1-8B-Instruct", &[("SAMBANOVA_API_KEY", "k")], None, "https://api.sambanova.ai/v1/chat/completions", BEARER, ),
    case( "nvidia_nim", "meta/llama3-8b-instruct", &[("NVIDIA_NIM_API_KEY", "k")], None, "https://integrate.api.nvidia.com/v1/chat/completions", BEARER, ),
    case( "nebius", "Qwen/Qwen3-235B-A22B", &[("NEBIUS_API_KEY", "k")], None, "https://api.studio.nebius.ai/v1/chat/completions", BEARER, ),
    case( "novita", "deepseek/deepseek-r1", &[("NOVITA_API_KEY", "k")], None, "https://api.novita.ai/v3/openai/chat/completions", BEARER, ),
    case( "hyperbolic", "Qwen/Qwen2.5-72B-Instruct", &[("HYPERBOLIC_API_KEY", "k")], None, "https://api.hyperbolic.xyz/v1/chat/completions", BEARER, ),
    case( "moonshot", "kimi-k2-0711-preview", &[("MOONSHOT_API_KEY", "k")], None, "https://api.moonshot.ai/v1/chat/completions", BEARER, ),
    case( "dashscope", "qwen-plus", &[("DASHSCOPE_API_KEY", "k")], None, "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/chat/completions", BEARER, ),
    case( "lambda_ai", "llama3.1-8b-instruct", &[("LAMBDA_API_KEY", "k")], None, "https://api.lambda.ai/v1/chat/completions", BEARER, ),
    case( "github", "gpt-4o", &[("GITHUB_API_KEY", "k")], None, "https://models.inference.ai.azure.com/chat/completions", BEARER, ),
    case( "featherless_ai", "Qwen/Qwen2.5-7B-Instruct", &[("FEATHERLESS_AI_API_KEY", "k")], None, "https://api.featherless.ai/v1/chat/completions", BEARER, ),
    case( "nscale", "Qwen/QwQ-32B", &[("NSCALE_API_KEY", "k")], None, "https://inference.api.nscale.com/v1/chat/completions", BEARER, ),
    case( "hosted_vllm", "m", &[("HOSTED_VLLM_API_BASE", "http://gpu:8000/v1"), ("HOSTED_VLLM_API_KEY", "k"),], None, "http://gpu:8000/v1/chat/completions", BEARER, ),
    case( "lm_studio", "qwen2.5-7b-instruct", &[("LM_STUDIO_API_KEY", "k")], None, "http://localhost:1234/v1/chat/completions", BEARER, ),
    case( "llamafile", "m", &[("LLAMAFILE_API_KEY", "k")], None, "http://127.0.0.1:8080/v1/chat/completions", BEARER, ),
    case( "openai_compatible", "m", &[("OPENAI_COMPATIBLE_API_KEY", "k")], Some("http://srv/v1"), "http://srv/v1/chat/completions", BEARER, ),
    case( "huggingface", "deepseek-ai/DeepSeek-R1:together", &[("HF_TOKEN", "k")], None, "https://router.huggingface.co/v1/chat/completions", BEARER, ),
    case( "cloudflare", "@cf/meta/llama-3.1-8b-instruct", &[("CLOUDFLARE_ACCOUNT_ID", "acc123"), ("CLOUDFLARE_API_KEY", "k"),], None, "https://api.cloudflare.com/client/v4/accounts/acc123/ai/v1/chat/completions", BEARER, ),
    case( "databricks", "databricks-claude-sonnet-4-5", &[("DATABRICKS_API_BASE", "https://adb-1.azuredatabricks.net/serving-endpoints"), ("DATABRICKS_API_KEY", "k"),], None, "https://adb-1.azuredatabricks.net/serving-endpoints/chat/completions", BEARER, ),
    case( "snowflake", "claude-3-5-sonnet", &[("SNOWFLAKE_ACCOUNT_ID", "myorg-acct"), ("SNOWFLAKE_JWT", "k"),], None, "https://myorg-acct.snowflakecomputing.com/api/v2/cortex/v1/chat/completions", BEARER, ),
    case( "baseten", "deepseek-ai/DeepSeek-V3.1", &[("BASETEN_API_KEY", "k")], None, "https://inference.baseten.co/v1/chat/completions", BEARER, ),
    case( "clarifai", "openai.chat-completion.gpt-4o", &[("CLARIFAI_PAT", "k")], None, "https://api.clarifai.com/v2/ext/openai/v1/chat/completions", BEARER, ),
    case( "friendliai", "meta-llama-3.1-8b-instruct", &[("FRIENDLI_TOKEN", "k")], None, "https://api.friendli.ai/serverless/v1/chat/completions", BEARER, ),
    case( "galadriel", "llama3.1", &[("GALADRIEL_API_KEY", "k")], None, "https://api.galadriel.com/v1/chat/completions", BEARER, ),
    case( "volcengine", "doubao-seed-1-6-250615", &[("ARK_API_KEY", "k")], None, "https://ark.cn-beijing.volces.com/api/v3/chat/completions", BEARER, ),
    case( "zai", "glm-4.5", &[("ZAI_API_KEY", "k")], None, "https://api.z.ai/api/paas/v4/chat/completions", BEARER, ),
    case( "ai21", "jamba-large", &[("AI21_API_KEY", "k")], None, "https://api.ai21.com/studio/v1/chat/completions", BEARER, ),
    case( "ai21_chat", "jamba-mini", &[("AI21_API_KEY", "k")], None, "https://api.ai21.com/studio/v1/chat/completions", BEARER, ),
    case( "poe", "Claude-Sonnet-4", &[("POE_API_KEY", "k")], None, "https://api.poe.com/v1/chat/completions", BEARER, ),
    case( "tencent", "hunyuan-turbos-latest", &[("TENCENT_API_KEY", "k")], None, "https://tokenhub-intl.tencentcloudmaas.com/v1/chat/completions", BEARER, ),
    case( "meta_llama", "Llama-4-Maverick-17B-128E-Instruct-FP8", &[("LLAMA_API_KEY", "k")], None, "https://api.llama.com/compat/v1/chat/completions", BEARER, ),
    case( "modelscope", "Qwen/Qwen3-32B", &[("MODELSCOPE_API_KEY", "k")], None, "https://api-inference.modelscope.cn/v1/chat/completions", BEARER, ),
    case( "qwencloud", "qwen-max", &[("DASHSCOPE_API_KEY", "k")], None, "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/chat/completions", BEARER, ),
    case( "qwen_ai_platform", "qwen-max", &[("QWEN_AI_PLATFORM_API_KEY", "k")], None, "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions", BEARER, ),
    case( "v0", "v0-1.5-md", &[("V0_API_KEY", "k")], None, "https://api.v0.dev/v1/chat/completions", BEARER, ),
    case( "morph", "morph-v3-large", &[("MORPH_API_KEY", "k")], None, "https://api.morphllm.com/v1/chat/completions", BEARER, ),
    case( "inception", "mercury-coder", &[("INCEPTION_API_KEY", "k")], None, "https://api.inceptionlabs.ai/v1/chat/completions", BEARER, ),
    case( "vercel_ai_gateway", "anthropic/claude-sonnet-4", &[("VERCEL_OIDC_TOKEN", "k")], None, "https://ai-gateway.vercel.sh/v1/chat/completions", BEARER, ),
    case( "edenai", "openai/gpt-4o", &[("EDENAI_API_KEY", "k")], None, "https://api.edenai.run/v3/llm/chat/completions", BEARER, ),
    case( "aiml", "gpt-4o", &[("AIML_API_KEY", "k")], None, "https://api.aimlapi.com/v1/chat/completions", BEARER, ),
    case( "wandb", "openai/gpt-oss-120b", &[("WANDB_API_KEY", "k")], None, "https://api.inference.wandb.ai/v1/chat/completions", BEARER, ),
    case( "cometapi", "gpt-4o", &[("COMETAPI_KEY", "k")], None, "https://api.cometapi.com/v1/chat/completions", BEARER, ),
    case( "compactifai", "cai-llama-3-1-8b-slim", &[("COMPACTIFAI_API_KEY", "k")], None, "https://api.compactif.ai/v1/chat/completions", BEARER, ),
    case( "gradient_ai", "llama3.3-70b-instruct", &[("GRADIENT_AI_API_KEY", "k")], None, "https://inference.do-ai.run/v1/chat/completions", BEARER, ),
    case( "heroku", "claude-4-sonnet", &[("INFERENCE_URL", "https://us.inference.heroku.com"), ("INFERENCE_KEY", "k"),], None, "https://us.inference.heroku.com/v1/chat/completions", BEARER, ),
    case( "amazon_nova", "nova-pro-v1", &[("AMAZON_NOVA_API_KEY", "k")], None, "https://api.nova.amazon.com/v1/chat/completions", BEARER, ),
    case( "minimax", "MiniMax-M2", &[("MINIMAX_API_KEY", "k")], None, "https://api.minimax.io/v1/chat/completions", BEARER, ),
    case( "ovhcloud", "Meta-Llama-3_3-70B-Instruct", &[("OVHCLOUD_API_KEY", "k")], None, "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1/chat/completions", BEARER, ),
    case( "datarobot", "azure/gpt-4o", &[("DATAROBOT_API_TOKEN", "k")], None, "https://app.datarobot.com/api/v2/genai/llmgw/chat/completions", BEARER, ),
    case( "maritalk", "sabia-3", &[("MARITALK_API_KEY", "k")], None, "https://chat.maritaca.ai/api/chat/completions", BEARER, ),
    case( "bedrock_mantle", "openai.gpt-oss-120b", &[("AWS_REGION", "us-west-2"), ("AWS_BEARER_TOKEN_BEDROCK", "k"),], None, "https://bedrock-mantle.us-west-2.api.aws/v1/chat/completions", BEARER, ),
    case( "litellm_proxy", "gpt-4o", &[("LITELLM_PROXY_API_BASE", "http://proxy:4000"), ("LITELLM_PROXY_API_KEY", "k"),], None, "http://proxy:4000/chat/completions", BEARER, ),
    case( "voyage", "voyage-3.5", &[("VOYAGE_API_KEY", "k")], None, "https://api.voyageai.com/v1/embeddings", BEARER, ),
    case( "jina_ai", "jina-embeddings-v3", &[("JINA_AI_API_KEY", "k")], None, "https://api.jina.ai/v1/embeddings", BEARER, ),
    case( "infinity", "BAAI/bge-small-en-v1.5", &[("INFINITY_API_KEY", "k")], Some("http://emb:7997"), "http://emb:7997/embeddings", BEARER, ),
    case( "openai_like", "m", &[("OPENAI_LIKE_API_BASE", "http://emb/v1"), ("OPENAI_LIKE_API_KEY", "k"),], None, "http://emb/v1/chat/completions", BEARER, ),
    case( "xinference", "qwen2.5-instruct", &[("XINFERENCE_API_KEY", "k")], None, "http://127.0.0.1:9997/v1/chat/completions", BEARER, ),
    case( "triton", "llama-3.1-8b-instruct", &[("TRITON_API_KEY", "k")], None, "http://localhost:9000/v1/chat/completions", BEARER, ),
    case( "docker_model_runner", "ai/smollm2", &[("DOCKER_MODEL_RUNNER_API_KEY", "k")], None, "http://localhost:12434/engines/llama.cpp/v1/chat/completions", BEARER, ),
    case( "lemonade", "Qwen3-0.6B-GGUF", &[("LEMONADE_API_KEY", "k")], None, "http://localhost:8000/api/v1/chat/completions", BEARER, ),
    case( "oobabooga", "m", &[("OOBABOOGA_API_KEY", "k")], Some("http://box:5000"), "http://box:5000/v1/chat/completions", BEARER, ),
    case( "llamacpp", "m", &[("LLAMACPP_API_KEY", "k")], None, "http://127.0.0.1:8080/v1/chat/completions", BEARER, ),
    case( "localai", "m", &[("LOCALAI_API_KEY", "k")], None, "http://localhost:8080/v1/chat/completions", BEARER, ),
    case( "publicai", "swiss-ai/apertus-8b-instruct", &[("PUBLICAI_API_KEY", "k")], None, "https://api.publicai.co/v1/chat/completions", BEARER, ),
    case( "helicone", "gpt-4o-mini", &[("HELICONE_API_KEY", "k")], None, "https://ai-gateway.helicone.ai/chat/completions", BEARER, ),
    case( "scaleway", "llama-3.1-8b-instruct", &[("SCW_SECRET_KEY", "k")], None, "https://api.scaleway.ai/v1/chat/completions", BEARER, ),
    case( "synthetic", "hf:deepseek-ai/DeepSeek-V3", &[("SYNTHETIC_API_KEY", "k")], None, "https://api.synthetic.new/openai/v1/chat/completions", BEARER, ),
    case( "apertis", "gpt-4o", &[("STIMA_API_KEY", "k")], None, "https://api.stima.tech/v1/chat/completions", BEARER, ),
    case( "nano-gpt", "chatgpt-4o-latest", &[("NANOGPT_API_KEY", "k")], None, "https://nano-gpt.com/api/v1/chat/completions", BEARER, ),
    case( "chutes", "deepseek-ai/DeepSeek-V3", &[("CHUTES_API_KEY", "k")], None, "https://llm.chutes.ai/v1/chat/completions", BEARER, ),
    case( "xiaomi_mimo", "mimo-v2-flash", &[("XIAOMI_MIMO_API_KEY", "k")], None, "https://api.xiaomimimo.com/v1/chat/completions", BEARER, ),
    case( "assemblyai", "claude-sonnet-4-5-20250929", &[("ASSEMBLYAI_API_KEY", "k")], None, "https://llm-gateway.assemblyai.com/v1/chat/completions", ("authorization", "k"), ),
    case( "charity_engine", "m", &[("CHARITY_ENGINE_API_KEY", "k")], None, "https://api.charityengine.services/remotejobs/v2/inference/chat/completions", BEARER, ),
    case( "darkbloom", "m", &[("DARKBLOOM_API_KEY", "k")], None, "https://api.darkbloom.dev/v1/chat/completions", BEARER, ),
    case( "neosantara", "m", &[("NEOSANTARA_API_KEY", "k")], None, "https://api.neosantara.xyz/v1/chat/completions", BEARER, ),
    case( "tensormesh", "m", &[("TENSORMESH_INFERENCE_API_KEY", "k")], None, "https://serverless.tensormesh.ai/v1/chat/completions", BEARER, ),
    case( "parasail", "parasail-llama-33-70b-fp8", &[("PARASAIL_API_KEY", "k")], None, "https://api.parasail.io/v1/chat/completions", BEARER, ),
    case( "libertai", "m", &[("LIBERTAI_API_KEY", "k")], None, "https://api.libertai.io/v1/chat/completions", BEARER, ),
    case( "meta", "m", &[("META_API_KEY", "k")], None, "https://api.meta.ai/v1/chat/completions", BEARER, ),
    case( "cognition", "m", &[("COGNITION_API_KEY", "k")], None, "https://api.cognition.ai/v1/chat/completions", BEARER, ),
    case( "cortecs", "m", &[("CORTECS_API_KEY", "k")], None, "https://api.cortecs.ai/v1/chat/completions", BEARER, ),
    case( "pinstripes", "m", &[("PINSTRIPES_API_KEY", "k")], None, "https://pinstripes.io/v1/chat/completions", BEARER, ),
    case( "scx-ai", "m", &[("SCX_API_KEY", "k")], None, "https://api.scx.ai/v1/chat/completions", BEARER, ),
    case( "prism", "m", &[("PRISM_API_KEY", "k")], None, "https://api.prisminference.com/v1/chat/completions", BEARER, ),
    case( "sail", "m", &[("SAIL_API_KEY", "k")], None, "https://api.sailresearch.com/v1/chat/completions", BEARER, ),
    case( "reka", "reka-flash", &[("REKA_API_KEY", "k")], None, "https://api.reka.ai/v1/chat/completions", BEARER, ),
];

fn host(name: &str) -> HostEntry {
    match hosts().iter().find(|h| h.name == name) {
        Some(h) => h.clone(),
        None => panic!("no host {name}"),
    }
}

fn lookup_in(env: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<&str, &str> = env.iter().copied().collect();
    move |name: &str| map.get(name).map(|v| (*v).to_owned())
}

/// Resolve `c` and build its request (chat, or embeddings for an embeddings-only host).
fn request_for(c: &Case) -> (Target, HttpRequest) {
    let host = host(c.provider);
    let chat = host.chat;
    let provider = Arc::new(OpenAiCompatible::new(host));
    let opts = TargetOptions {
        api_base: c.api_base.map(str::to_owned),
        ..Default::default()
    };
    let lookup = lookup_in(c.env);
    let target = match provider.clone().resolve_with(c.model, &opts, &lookup) {
        Ok(t) => t,
        Err(e) => panic!("{}: {}", c.provider, e.message),
    };
    let http = if chat {
        provider.build_request(
            &ChatRequest::new(c.model, vec![Message::user("hi")]),
            &target,
            false,
        )
    } else {
        provider.build_embedding_request(&EmbeddingRequest::new(c.model, "hi"), &target)
    };
    match http {
        Ok(h) => (target, h),
        Err(e) => panic!("{}: {}", c.provider, e.message),
    }
}

#[test]
fn every_provider_resolves_to_its_documented_url_and_auth() {
    for c in CASES {
        let (_, http) = request_for(c);
        let auth = http
            .headers
            .get(c.auth.0)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            (http.url.as_str(), auth),
            (c.url, c.auth.1),
            "{}: URL and {} header",
            c.provider,
            c.auth.0
        );
    }
}

#[test]
fn the_cases_cover_every_provider_of_the_table() {
    let covered: HashSet<&str> = CASES.iter().map(|c| c.provider).collect();
    assert_eq!(covered.len(), CASES.len(), "a provider has two cases");
    let table: HashSet<&str> = hosts().iter().map(|h| h.name.as_str()).collect();
    let missing: Vec<&&str> = table.difference(&covered).collect();
    let unknown: Vec<&&str> = covered.difference(&table).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "missing {missing:?}, unknown {unknown:?}"
    );
}

#[test]
fn every_row_is_well_formed_and_cites_its_docs() {
    let rows = match table_rows() {
        Ok(rows) => rows,
        Err(e) => panic!("the host table does not parse: {e}"),
    };
    assert!(rows.len() >= 90, "{} rows", rows.len());
    let mut names = HashSet::new();
    for h in &rows {
        for name in std::iter::once(&h.name).chain(&h.aliases) {
            assert!(names.insert(name.clone()), "{name} is defined twice");
        }
        let docs = Url::parse(&h.docs).ok();
        assert!(
            docs.is_some_and(|u| u.scheme() == "https" && u.host_str().is_some()),
            "{}: docs must be an https URL, got {:?}",
            h.name,
            h.docs
        );
        if let Some(template) = &h.api_base {
            // Defaults where the template has them, a plain word for required variables.
            let base = expand_template(template, &|_| None)
                .or_else(|_| expand_template(template, &|_| Some("acct".to_owned())));
            let base = base.unwrap_or_else(|e| panic!("{}: bad api_base template: {e}", h.name));
            let url = Url::parse(&base).ok();
            assert!(
                url.is_some_and(|u| matches!(u.scheme(), "http" | "https")),
                "{}: api_base {template:?} is not an http(s) URL",
                h.name
            );
        } else {
            // No default: the caller or an env var must give one.
            assert!(!h.key_required || !h.api_key_env.is_empty(), "{}", h.name);
        }
        for path in [&h.chat_path, &h.embeddings_path] {
            assert!(path.starts_with('/'), "{}: path {path:?}", h.name);
        }
        assert!(h.chat || h.embeddings, "{} serves nothing", h.name);
        for (from, to) in h
            .rename
            .iter()
            .chain(h.model_rules.iter().flat_map(|r| r.rename.iter()))
        {
            let mut params = ChatParams::default();
            assert!(
                rename_param(&mut params, from, to),
                "{}: cannot rename {from} to {to}",
                h.name
            );
        }
        for p in h.embedding_rename.keys() {
            assert!(
                EMBEDDING_PARAMS.contains(&p.as_str()),
                "{}: unknown embedding param {p}",
                h.name
            );
        }
    }
}

#[test]
fn renames_reach_the_body() {
    // Hosts that only know max_tokens get the caller's max_completion_tokens under that name.
    let c = &CASES[CASES
        .iter()
        .position(|c| c.provider == "friendliai")
        .unwrap_or(0)];
    let provider = Arc::new(OpenAiCompatible::new(host("friendliai")));
    let (target, _) = request_for(c);
    let mut req = ChatRequest::new(c.model, vec![Message::user("hi")]);
    req.params.max_completion_tokens = Some(64);
    provider.adapt_request(&mut req, &target);
    let body = provider.build_request(&req, &target, false).map(|h| h.body);
    let body: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["max_tokens"], 64);
    assert!(body.get("max_completion_tokens").is_none());

    // Snowflake takes max_completion_tokens.
    let c = &CASES[CASES
        .iter()
        .position(|c| c.provider == "snowflake")
        .unwrap_or(0)];
    let provider = Arc::new(OpenAiCompatible::new(host("snowflake")));
    let (target, _) = request_for(c);
    let mut req = ChatRequest::new(c.model, vec![Message::user("hi")]);
    req.params.max_tokens = Some(32);
    provider.adapt_request(&mut req, &target);
    let body = provider.build_request(&req, &target, false).map(|h| h.body);
    let body: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["max_completion_tokens"], 32);
    assert!(body.get("max_tokens").is_none());
}

#[test]
fn embedding_renames_and_model_formats() {
    let c = &CASES[CASES
        .iter()
        .position(|c| c.provider == "voyage")
        .unwrap_or(0)];
    let provider = Arc::new(OpenAiCompatible::new(host("voyage")));
    let (target, _) = request_for(c);
    let mut req = EmbeddingRequest::new(c.model, "hi");
    req.dimensions = Some(256);
    let body = provider
        .build_embedding_request(&req, &target)
        .map(|h| h.body);
    let body: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["output_dimension"], 256);
    assert!(body.get("dimensions").is_none());
    assert_eq!(body["model"], "voyage-3.5");

    let c = &CASES[CASES
        .iter()
        .position(|c| c.provider == "clarifai")
        .unwrap_or(0)];
    let (target, _) = request_for(c);
    assert_eq!(
        target.model,
        "https://clarifai.com/openai/chat-completion/models/gpt-4o"
    );
    let format = ModelFormat {
        split: ".".into(),
        template: "x/{0}/{1}".into(),
    };
    assert_eq!(format.apply("a.b"), "x/a/b");
    assert_eq!(format.apply("a.b.c"), "a.b.c");
    assert_eq!(format.apply("https://x/a.b"), "https://x/a.b");
}

#[test]
fn templates_and_url_joins() {
    let env = |n: &str| (n == "B").then(|| "b".to_owned());
    assert_eq!(expand_template("x/{A|B}/y", &env).as_deref(), Ok("x/b/y"));
    assert_eq!(expand_template("x/{A:-d}/y", &env).as_deref(), Ok("x/d/y"));
    assert_eq!(expand_template("x/{A}", &env), Err("A".to_owned()));
    assert_eq!(expand_template("x/{A|C}", &env), Err("A or C".to_owned()));
    assert!(expand_template("x/{A", &env).is_err());

    assert_eq!(
        join_url("http://h/v1", "/chat/completions"),
        "http://h/v1/chat/completions"
    );
    assert_eq!(
        join_url("http://h/v1/", "/chat/completions"),
        "http://h/v1/chat/completions"
    );
    assert_eq!(
        join_url("http://h/v1/chat/completions", "/chat/completions"),
        "http://h/v1/chat/completions"
    );
    assert_eq!(
        join_url("http://h", "/v1/chat/completions"),
        "http://h/v1/chat/completions"
    );
    assert_eq!(
        join_url("http://h/v1", "/v1/chat/completions"),
        "http://h/v1/chat/completions"
    );
    assert_eq!(
        join_url("http://h/api/v1", "/v1/chat/completions"),
        "http://h/api/v1/chat/completions"
    );
    assert_eq!(
        join_url("http://h/x/chat/completions", "/v1/chat/completions"),
        "http://h/x/chat/completions"
    );
}

/// `join_url` as it was written first (joined strings compared), to check the
/// allocation-free one against.
fn join_url_reference(api_base: &str, path: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for k in (2..=segments.len()).rev() {
        let tail = segments[segments.len() - k..].join("/");
        if base.ends_with(&format!("/{tail}")) {
            return base.to_owned();
        }
    }
    for k in (1..segments.len()).rev() {
        let head = segments[..k].join("/");
        if base.ends_with(&format!("/{head}")) {
            return format!("{base}/{}", segments[k..].join("/"));
        }
    }
    format!("{base}/{}", segments.join("/"))
}

#[test]
fn join_url_matches_the_reference_on_every_combination() {
    let bases = [
        "",
        "/",
        "http://h",
        "http://h/",
        "http://h/v1",
        "http://h/v1/",
        "http://h/v1//",
        "http://h/api/v1",
        "http://h/v1/chat",
        "http://h/v1/chat/completions",
        "http://h/x/chat/completions",
        "http://h/chat/completions/",
        "http://h/xv1",
        "http://h/openai/deployments/d/chat",
        "v1",
        "/v1/chat/completions",
    ];
    let paths = [
        "",
        "/",
        "/chat/completions",
        "chat/completions",
        "/v1/chat/completions",
        "/v1//chat/completions/",
        "/embeddings",
        "/v1/embeddings",
        "/v1",
        "/v1/v1",
        "/openai/deployments/d/chat/completions",
    ];
    for base in bases {
        for path in paths {
            assert_eq!(
                join_url(base, path),
                join_url_reference(base, path),
                "base {base:?}, path {path:?}"
            );
        }
    }
}

#[test]
fn a_missing_url_variable_or_base_fails_fast_naming_it() {
    let provider = Arc::new(OpenAiCompatible::new(host("cloudflare")));
    let env = |n: &str| (n == "CLOUDFLARE_API_KEY").then(|| "k".to_owned());
    let err = provider
        .resolve_with("m", &TargetOptions::default(), &env)
        .err();
    let message = err.map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.contains("CLOUDFLARE_ACCOUNT_ID"), "{message}");

    let provider = Arc::new(OpenAiCompatible::new(host("infinity")));
    let err = provider
        .resolve_with("m", &TargetOptions::default(), &|_| None)
        .err();
    let message = err.map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.contains("api_base"), "{message}");

    // An embeddings-only host refuses chat before any request.
    let provider = Arc::new(OpenAiCompatible::new(host("voyage")));
    let env = |n: &str| (n == "VOYAGE_API_KEY").then(|| "k".to_owned());
    let target = provider
        .clone()
        .resolve_with("voyage-3.5", &TargetOptions::default(), &env);
    let built = target.and_then(|t| {
        provider.build_request(
            &ChatRequest::new("voyage-3.5", vec![Message::user("hi")]),
            &t,
            false,
        )
    });
    let message = built.err().map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.contains("embeddings only"), "{message}");
}

#[test]
fn table_parses_and_has_required_hosts() {
    let names: Vec<&str> = hosts().iter().map(|h| h.name.as_str()).collect();
    for required in [
        "openai",
        "groq",
        "together_ai",
        "deepseek",
        "fireworks_ai",
        "openrouter",
        "perplexity",
        "xai",
        "deepinfra",
        "cerebras",
        "sambanova",
        "nvidia_nim",
        "hosted_vllm",
        "lm_studio",
        "llamafile",
        "openai_compatible",
    ] {
        assert!(names.contains(&required), "missing host {required}");
    }
    for h in hosts() {
        for p in h
            .rejects
            .iter()
            .chain(h.model_rules.iter().flat_map(|r| r.rejects.iter()))
        {
            assert!(
                OPENAI_PARAMS.contains(&p.as_str()),
                "{}: unknown param {p}",
                h.name
            );
        }
        for p in h.embedding_rejects.iter().chain(
            h.model_rules
                .iter()
                .flat_map(|r| r.embedding_rejects.iter()),
        ) {
            assert!(
                EMBEDDING_PARAMS.contains(&p.as_str()),
                "{}: unknown embedding param {p}",
                h.name
            );
        }
        if h.key_required {
            assert!(!h.api_key_env.is_empty(), "{} needs a key env var", h.name);
        }
    }
}

#[test]
fn glob() {
    assert!(glob_match("o1*", "o1-mini"));
    assert!(glob_match("gpt-5*", "GPT-5"));
    assert!(!glob_match("o1*", "gpt-4o"));
    assert!(glob_match("*-chat*", "gpt-5-chat-latest"));
    assert!(glob_match("exact", "exact"));
    assert!(glob_match("EXACT", "exact"));
    assert!(!glob_match("exact", "exactly"));
    assert!(glob_match("a*b*c", "aXXbYYc"));
    assert!(!glob_match("a*b*c", "aXXbYY"));
    assert!(glob_match("*", "anything"));
}
