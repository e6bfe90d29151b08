-- A coordinator or the sweep ends a handoff (release.lua). KEYS: chat, waiting, claimed, held. ARGV: sender.
return release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
