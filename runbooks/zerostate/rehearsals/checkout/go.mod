module github.com/zerostate/zerostate

go 1.22
