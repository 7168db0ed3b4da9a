module buildgate/tarlist

go 1.19
