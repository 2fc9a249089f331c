/*  Shared helpers for the Criterion suites. */
#ifndef SBX_TESTUTIL_H
#define SBX_TESTUTIL_H
#endif
