//! AWS plumbing shared by AWS-hosted providers (Bedrock): SigV4 signing (`aws-sigv4`),
//! credentials from parameters, the environment, the shared files, STS AssumeRole and web
//! identity, and the region rules.

pub mod credentials;
pub mod profile;
pub mod sigv4;
pub mod sts;

/// The DNS suffix of a region's endpoints (China's regions differ).
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Whether `s` looks like an AWS region name (`us-east-1`, `us-gov-west-1`, `eu-central-2`).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
}
