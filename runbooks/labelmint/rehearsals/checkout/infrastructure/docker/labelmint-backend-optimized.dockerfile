# Backend image for every backend service and both bots, multi-stage on node:20-alpine.
FROM node:20-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/backend/package.json services/backend/
RUN npm ci --workspace services/backend --omit=dev

FROM node:20-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY services/backend services/backend
USER 1000
EXPOSE 3101 3103 3104 3105 3106
CMD ["node", "services/backend/src/index.js"]
