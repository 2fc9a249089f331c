/*  sbx_process_tree - making directories, and removing directory trees
    without ever following a symbolic link.

    A sandbox's directory holds whatever its commands made: links to `/`,
    directories without permissions, trees deeper than any descriptor
    budget. Removal works step by step relative to descriptors opened with
    O_NOFOLLOW, so nothing outside the tree is touched, whatever it holds;
    directories its owner made unreadable are opened after a chmod (sbxd
    owns them too, or is root); below 64 levels a subdirectory is moved up
    to the top of the removal instead of entered, so a tree of any depth
    goes with a bounded number of open descriptors.

    Functions only, no state; they block on the file system. Used by the
    sandbox (process.h: its directory, reset between sessions), by the
    fs feature (`remove` with `recursive`), and by sbx-init's cleaner
    (backends/init/clean.h), which links this file alone.
*/
#ifndef SBX_PROCESS_TREE_H
#define SBX_PROCESS_TREE_H

#include <sys/types.h>

//  mkdir -p: makes `path` and its missing parents with `mode`. Returns 0
//  (also when it exists), or -errno.
int
    sbx_process_tree_make (const char *path, mode_t mode);

//  Removes `name` in the directory `dirfd`, and when it is a directory,
//  everything in it. Returns 0 (also when it does not exist), or -errno of
//  the first failure (it goes on removing what it can).
int
    sbx_process_tree_remove_at (int dirfd, const char *name);

//  Removes everything in the directory `dirfd` (an O_PATH or O_RDONLY
//  descriptor), not the directory itself. 0 or -errno as above.
int
    sbx_process_tree_empty (int dirfd);

#endif
