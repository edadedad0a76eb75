//! Server reflection as stock tools (grpcurl, Postman, grpcui) expect it: a port lists only the
//! services served on it, and carries the descriptors of the rich error details
//! (`google.rpc.BadRequest`, `ResourceInfo`, ...) the services send, so the tools can show them.

use tonic_reflection::server::{Builder, Error};

const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

fn builder<'b>(served: &[&'static str]) -> Builder<'b> {
    let mut builder = Builder::configure()
        .register_encoded_file_descriptor_set(csm_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    for name in served.iter().copied().chain([HEALTH, REFLECTION_V1, REFLECTION_V1ALPHA]) {
        builder = builder.with_service_name(name);
    }
    builder
}

/// Reflection (v1 and v1alpha) listing `served`, health and reflection itself.
pub fn services(
    served: &[&'static str],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    Error,
> {
    Ok((builder(served).build_v1()?, builder(served).build_v1alpha()?))
}
