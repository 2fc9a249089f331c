/*  sbx_registry - see registry.h */
#include "runtime/daemon/registry.h"
#include "backends/process/process.h"
#include "backends/testing.h"
#include "features/features.h"

static const sbx_sandbox_kind_t *const s_sandbox_kinds [] = {
    &sbx_sandbox_testing,
    &sbx_sandbox_process,
    NULL
};

static const sbx_feature_kind_t *const s_feature_kinds [] = {
    &sbx_feature_testing,
    &sbx_feature_shell,
    &sbx_feature_fs,
    &sbx_feature_python,
    NULL
};

static const sbx_kinds_t s_kinds = {s_sandbox_kinds, s_feature_kinds};

const sbx_kinds_t *
sbx_registry (void)
{
    return &s_kinds;
}
