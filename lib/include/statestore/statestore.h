// Umbrella header: everything a program needs to use statestore.
#ifndef STATESTORE_STATESTORE_H_
#define STATESTORE_STATESTORE_H_

#include "statestore/config.h"
#include "statestore/config_value.h"
#include "statestore/config_watch.h"
#include "statestore/error.h"
#include "statestore/history.h"
#include "statestore/lease.h"
#include "statestore/options.h"
#include "statestore/revision.h"
#include "statestore/session.h"
#include "statestore/stats.h"
#include "statestore/store.h"
#include "statestore/transaction.h"
#include "statestore/value.h"
#include "statestore/version.h"

#endif  // STATESTORE_STATESTORE_H_
