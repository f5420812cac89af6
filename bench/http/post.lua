-- wrk script: POST the JSON body read from the file given after `--`.
--   wrk -s post.lua http://127.0.0.1:8080/embed -- body.json
local request_bytes

function init(args)
    local f = assert(io.open(args[1], "rb"))
    local body = f:read("*a")
    f:close()
    request_bytes = wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function request()
    return request_bytes
end
