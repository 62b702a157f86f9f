// Debug info of weir_match (and of its pieces, when codegen_rules.cpp splits it, each a
// DISubprogram of its own, as the module verifier wants every location in its function's scope): a compile unit of its own whose files are the policy sources, with
// their text embedded (DIFile `source`), so the BTF line info the BPF backend writes carries
// each rule's text and the kernel verifier's log can quote it. Every instruction of a rule has
// a location at the rule or at the atom it evaluates; after weir_match is inlined into weir_xdp
// these locations stay, as inlined locations, in the line info of weir_xdp.
#include <algorithm>

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/IR/DebugInfo.h>
#include <llvm/Support/Path.h>

#include "codegen_ctx.hpp"

namespace weir::cg {

Debug::Debug(llvm::Module& m, const SourceManager& sources, FileId main_file, const std::vector<SourceRange>& code)
    : dib_(m), mod_(m), sources_(sources) {
    for (const SourceRange& r : code)
        if (r.valid() && r.file < sources_.size())
            code_lines_[r.file].emplace_back(sources_.line_col(r.file, r.begin).line,
                                             sources_.line_col(r.file, r.end).line);
    for (auto& [id, spans] : code_lines_) std::sort(spans.begin(), spans.end());
    cu_ = dib_.createCompileUnit(llvm::dwarf::DW_LANG_C11, file(main_file), "weir", /*isOptimized=*/true,
                                 /*Flags=*/"", /*RV=*/0);
}

llvm::DIFile* Debug::file(FileId id) {
    auto it = files_.find(id);
    if (it != files_.end()) return it->second;
    std::string path = id < sources_.size() ? sources_.file(id).path : std::string("<policy>");
    // The file's text with only the lines code was generated for (see the constructor).
    std::string text;
    if (id < sources_.size()) {
        const auto& spans = code_lines_[id];
        const std::string& full = sources_.file(id).text;
        std::uint32_t line = 1;
        std::size_t span = 0;
        for (std::size_t at = 0; at <= full.size();) {
            std::size_t nl = full.find('\n', at);
            std::size_t end = nl == std::string::npos ? full.size() : nl;
            while (span < spans.size() && spans[span].second < line) ++span;
            if (span < spans.size() && spans[span].first <= line) text.append(full, at, end - at);
            if (nl == std::string::npos) break;
            text += '\n';
            at = nl + 1;
            ++line;
        }
    }
    llvm::StringRef name = llvm::sys::path::filename(path);
    llvm::StringRef dir = llvm::sys::path::parent_path(path);
    // The metadata uniquer copies the string.
    llvm::DIFile* f = dib_.createFile(name, dir, std::nullopt, llvm::StringRef(text));
    files_.emplace(id, f);
    return f;
}

void Debug::attach(llvm::Function& fn, std::uint32_t line) {
    llvm::DIFile* f = cu_->getFile();
    auto* u32 = dib_.createBasicType("__u32", 32, llvm::dwarf::DW_ATE_unsigned);
    auto* ptr = dib_.createPointerType(nullptr, 64);
    auto* type = dib_.createSubroutineType(dib_.getOrCreateTypeArray({u32, ptr, ptr, ptr, ptr}));
    sp_ = dib_.createFunction(f, fn.getName(), /*LinkageName=*/"", f, line, type, line,
                              llvm::DINode::FlagPrototyped,
                              llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagLocalToUnit |
                                  llvm::DISubprogram::SPFlagOptimized);
    fn.setSubprogram(sp_);
}

void Debug::enter(llvm::Function& fn) { sp_ = fn.getSubprogram(); }

llvm::DIType* Debug::struct_type(const char* name, std::uint64_t bytes) {
    if (!types_scanned_) {
        types_scanned_ = true;
        llvm::DebugInfoFinder finder;
        finder.processModule(mod_);
        for (llvm::DIType* t : finder.types())
            if (auto* ct = llvm::dyn_cast<llvm::DICompositeType>(t);
                ct && ct->getTag() == llvm::dwarf::DW_TAG_structure_type && !ct->isForwardDecl() && !ct->getName().empty())
                template_structs_.try_emplace(ct->getName().str(), ct);
    }
    if (auto it = template_structs_.find(name); it != template_structs_.end()) return it->second;
    // Not in the template's debug info: a struct of the right size is all the verifier reads.
    auto* t = dib_.createStructType(cu_, name, cu_->getFile(), 0, 8 * bytes, 64, llvm::DINode::FlagZero, nullptr,
                                    dib_.getOrCreateArray({}));
    template_structs_.emplace(name, t);
    return t;
}

void Debug::attach_piece(llvm::Function& fn, std::uint32_t line, std::uint64_t pkt_bytes) {
    llvm::DIFile* f = cu_->getFile();
    auto* u32 = dib_.createBasicType("__u32", 32, llvm::dwarf::DW_ATE_unsigned);
    // The verifier types a global function's arguments from its BTF: a pointer to a struct is
    // memory of the struct's size, a pointer to the program's context type is the context.
    auto* pkt = dib_.createPointerType(struct_type("weir_pkt", pkt_bytes), 64);
    auto* ctx = dib_.createPointerType(struct_type("xdp_md", 24), 64);
    auto* type = dib_.createSubroutineType(dib_.getOrCreateTypeArray({u32, pkt, ctx}));
    sp_ = dib_.createFunction(f, fn.getName(), /*LinkageName=*/"", f, line, type, line,
                              llvm::DINode::FlagPrototyped,
                              llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagOptimized);
    // BTF wants every parameter of a function named.
    dib_.createParameterVariable(sp_, "pkt", 1, f, line, pkt, /*AlwaysPreserve=*/true);
    dib_.createParameterVariable(sp_, "ctx", 2, f, line, ctx, /*AlwaysPreserve=*/true);
    fn.setSubprogram(sp_);
}

llvm::DebugLoc Debug::at(SourceRange r) {
    if (!r.valid() || r.file >= sources_.size())
        return llvm::DILocation::get(sp_->getContext(), 0, 0, sp_);
    LineCol lc = sources_.line_col(r.file, r.begin);
    llvm::DIFile* f = file(r.file);
    llvm::DIScope* scope = sp_;
    // A location in another file than weir_match's (an included file) needs a scope in it.
    if (f != sp_->getFile()) {
        auto [it, fresh] = scopes_.try_emplace({sp_, r.file}, nullptr);
        if (fresh) it->second = dib_.createLexicalBlockFile(sp_, f);
        scope = it->second;
    }
    return llvm::DILocation::get(sp_->getContext(), lc.line, lc.col, scope);
}

}  // namespace weir::cg
