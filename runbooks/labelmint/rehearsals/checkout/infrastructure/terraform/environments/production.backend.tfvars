# Rehearsal placeholder: the real file names the S3 state bucket and the DynamoDB lock table.
# terraform does not run in a rehearsal (first-deploy.yaml: terraform-* steps carry rehearse:).
bucket         = "to-be-defined"
key            = "labelmint/production/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "to-be-defined"
