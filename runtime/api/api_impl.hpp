// What the API's source files share: the inside of a Policy and the
// conversion of internal diagnostics into the public ones.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "attach.hpp"
#include "codegen.hpp"
#include "diagnostics.hpp"
#include "attach.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "source.hpp"
#include "weir/weir.hpp"

namespace weir::api {

struct Policy::Impl {
    std::string name;
    bool from_string = false;
    std::shared_ptr<const Compilation> compilation;  // what attach() loads: nothing is read again
    std::vector<Diagnostic> diags;
};

// What a Policy holds, for the library's own files.
struct PolicyAccess {
    static const Policy::Impl& of(const Policy& p) { return *p.impl_; }
};

Location location(const SourceManager& sm, SourceRange r);
// Status's fields of a load awaiting confirmation (api_confirm.cpp).
void confirm_status(const attach::Attachment& a, Status& s);
void convert(const SourceManager& sm, const Diagnostics& ds, std::vector<Diagnostic>& out);

// Policy `name`'s built artifact loaded into the kernel, attached nowhere (redirects aimed at
// placeholders): what `weir check --kernel` and `weir test --kernel` run. nullptr: `error` says
// why in one line; the codegen failure or the verifier's findings are in `diags`.
std::unique_ptr<LoadedPolicy> load_unattached(const std::shared_ptr<const Compilation>& c, const std::string& name,
                                              const CodegenOptions& cg, Diagnostics& diags, std::string& error);

// The conversions every load goes through (api.cpp).
weir::CheckOptions check_options(const CompileOptions& o);
attach::LoadOptions load_options(const std::string& ifname, const AttachOptions& opts);
LoadReport report(const std::string& ifname, const attach::LoadOutcome& r, const AttachOptions& opts);

}  // namespace weir::api
