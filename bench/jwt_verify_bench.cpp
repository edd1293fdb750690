// Uncached JWT signature verifications per second on one core, through the same code the jwt
// middleware uses (jose.cpp). Input: a JWKS file and a file of "ALG TOKEN" lines (bench/jwt.sh
// makes both with the jose npm package).
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "middleware/jwt/jose.hpp"

using namespace gatehouse::middleware::jwt;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: gatehouse_jwt_bench JWKS_FILE TOKENS_FILE [seconds]\n";
        return 2;
    }
    std::ifstream jf(argv[1]);
    std::stringstream js;
    js << jf.rdbuf();
    std::vector<std::string> errors;
    auto keys = keys_from_jwks(js.str(), errors);
    double seconds = argc > 3 ? std::stod(argv[3]) : 2.0;
    std::ifstream tf(argv[2]);
    std::string name, token;
    while (tf >> name >> token) {
        auto a = alg_from_name(name);
        auto d2 = token.rfind('.');
        auto sig = base64url_decode(token.substr(d2 + 1));
        const verify_key* key = nullptr;
        for (auto& k : keys)
            if (k.usable_for(*a)) key = &k;
        if (!a || !sig || !key) {
            std::cerr << name << ": no key or bad token\n";
            return 1;
        }
        std::string_view input(token.data(), d2);
        if (!verify_signature(*a, *key, input, *sig)) {
            std::cerr << name << ": does not verify\n";
            return 1;
        }
        auto start = std::chrono::steady_clock::now();
        std::size_t n = 0;
        while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds)) {
            for (int i = 0; i < 100; ++i) n += verify_signature(*a, *key, input, *sig);
        }
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::cout << name << " " << static_cast<long>(n / s) << " verifications/s\n";
    }
    return 0;
}
