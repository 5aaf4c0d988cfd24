// Input decks (src/core/deck.hpp): any text is either refused with sk::Error or
// resolves to a configuration whose printed deck reads back as itself.
#include "deck.hpp"
#include "error.hpp"

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const sk::Deck deck = sk::Deck::parse(text, "fuzz.toml", {});
    const std::string printed = deck.to_toml();
    if (sk::Deck::parse(printed, "printed", {}).to_toml() != printed)
      throw std::logic_error("the printed deck does not read back as itself:\n" + printed);
    sk::TrainConfig::from(deck);
  } catch (const sk::Error&) {
  }
  return 0;
}
