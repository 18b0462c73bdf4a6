#include "node/api_routes.h"

#include <memory>

#include "node/api_util.h"

namespace kith::node {

void AddApiRoutes(Router& router, const ApiContext& context) {
  api::Api::Register(router, std::make_shared<api::Api>(context));
  AddDirectoryApiRoutes(router, context);
}

}  // namespace kith::node
