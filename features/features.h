/*  The feature kinds of this build (include/sbx/plugin.h), one vtable per
    file of this folder; runtime/daemon/registry.c lists them by name.
*/
#ifndef SBX_FEATURES_H
#define SBX_FEATURES_H

#include <sbx/plugin.h>

extern const sbx_feature_kind_t sbx_feature_testing;    //  testing.c, SPEC §5
extern const sbx_feature_kind_t sbx_feature_shell;      //  shell.c
extern const sbx_feature_kind_t sbx_feature_fs;         //  fs.c
extern const sbx_feature_kind_t sbx_feature_python;     //  python.c

#endif
