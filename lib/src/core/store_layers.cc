// The layer mechanism of the Store base class (statestore/store_layer.h). Engine-independent:
// every engine calls attach_layers while opening and stop_layers first thing when it closes.
#include <string>
#include <string_view>
#include <utility>

#include "statestore/store.h"

namespace statestore {

StoreLayer* Store::find_layer(std::string_view name) const noexcept {
  for (const auto& [layer_name, layer] : layers_) {
    if (layer_name == name) return layer.get();
  }
  return nullptr;
}

void Store::attach_layers(Layers layers) {
  for (auto& entry : layers) layers_.push_back(std::move(entry));
}

void Store::stop_layers() noexcept {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) it->second->stop();
  while (!layers_.empty()) layers_.pop_back();
}

void Store::abandon_layers_after_fork() noexcept {
  for (auto& entry : layers_) {
    entry.second->abandon_after_fork();
    static_cast<void>(entry.second.release());
  }
  layers_.clear();
}

void Store::add_layer_stats(Stats& stats) const {
  for (const auto& entry : layers_) entry.second->add_stats(stats);
}

}  // namespace statestore
