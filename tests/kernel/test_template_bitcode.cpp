// The embedded XDP template bitcode is what codegen will link with: it must parse with LLVM
// and provide the entry point, the weir_count hook, the maps and the licence, and leave
// weir_match for codegen to define.
#include <doctest/doctest.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <memory>
#include <string>

#include "templates.hpp"
#include "weir_abi.h"

namespace {

std::unique_ptr<llvm::Module> parse_template(llvm::LLVMContext& ctx) {
    auto bytes = weir::xdp_template_bitcode();
    llvm::StringRef data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto module = llvm::parseBitcodeFile(llvm::MemoryBufferRef(data, "xdp.bc"), ctx);
    if (!module) {
        FAIL("bitcode does not parse: " << llvm::toString(module.takeError()));
        return nullptr;
    }
    return std::move(*module);
}

}  // namespace

TEST_CASE("the template bitcode is embedded and parses") {
    REQUIRE(weir::xdp_template_bitcode().size() > 1000);
    llvm::LLVMContext ctx;
    auto m = parse_template(ctx);
    REQUIRE(m);
    CHECK(llvm::StringRef(m->getTargetTriple()).starts_with("bpf"));
}

TEST_CASE("the template defines the entry and the count hook, and declares weir_match") {
    llvm::LLVMContext ctx;
    auto m = parse_template(ctx);
    REQUIRE(m);
    llvm::Function* entry = m->getFunction(WEIR_PROG_XDP);
    REQUIRE(entry);
    CHECK_FALSE(entry->isDeclaration());
    CHECK(entry->getSection() == "xdp");

    llvm::Function* match = m->getFunction("weir_match");
    REQUIRE(match);
    CHECK(match->isDeclaration());
    CHECK(match->arg_size() == 4);
    CHECK(match->getReturnType()->isIntegerTy(32));

    // The parser is inlined into the entry: a BPF-to-BPF call costs ~7 ns per packet here.
    CHECK(m->getFunction("weir_parse_xdp") == nullptr);
    for (const llvm::BasicBlock& bb : *entry)
        for (const llvm::Instruction& in : bb)
            if (const auto* call = llvm::dyn_cast<llvm::CallInst>(&in))
                if (const llvm::Function* f = call->getCalledFunction(); f && !f->isDeclaration() && !f->isIntrinsic())
                    CHECK_MESSAGE(f->hasFnAttribute(llvm::Attribute::AlwaysInline), f->getName().str());

    llvm::Function* count = m->getFunction("weir_count");
    REQUIRE(count);
    CHECK_FALSE(count->isDeclaration());
    CHECK(count->hasExternalLinkage());
    CHECK(count->hasFnAttribute(llvm::Attribute::AlwaysInline));
}

TEST_CASE("the template carries the maps of weir_abi.h and a GPL licence") {
    llvm::LLVMContext ctx;
    auto m = parse_template(ctx);
    REQUIRE(m);
    for (const char* name : {WEIR_MAP_RULES, WEIR_MAP_VERDICTS, WEIR_MAP_STATS, WEIR_MAP_REDIRECT,
                             WEIR_MAP_LAST}) {
        CAPTURE(name);
        llvm::GlobalVariable* g = m->getGlobalVariable(name);
        REQUIRE(g);
        CHECK(g->getSection() == ".maps");
    }
    llvm::GlobalVariable* license = m->getGlobalVariable("LICENSE");
    REQUIRE(license);
    CHECK(license->getSection() == "license");
    auto* init = llvm::dyn_cast<llvm::ConstantDataSequential>(license->getInitializer());
    REQUIRE(init);
    CHECK(init->getAsCString() == "GPL");
}
